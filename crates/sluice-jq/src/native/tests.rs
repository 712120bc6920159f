//! The native evaluator against jq's behaviour, and its fast paths against its general one.

use super::raw::pick;
use super::*;
use serde_json::json;

fn outputs(code: &str, input: Value) -> Result<Vec<Value>, String> {
    let program = compile(code).unwrap_or_else(|| panic!("`{code}` should be native"));
    let mut borrowed = Vec::new();
    run(&program, &Event::new(input.clone()), &mut |v| {
        borrowed.push(v);
    })?;
    let mut owned = Vec::new();
    run_owned(&program, input, &mut |v| owned.push(v))?;
    assert_eq!(
        borrowed, owned,
        "`{code}` gives the same on a borrowed and an owned input"
    );
    Ok(owned)
}

#[test]
fn paths_literals_and_operators() {
    let doc = json!({"a": {"b": [1, 2, 3]}, "n": 7, "s": "Hi"});
    assert_eq!(outputs(".a.b[1]", doc.clone()), Ok(vec![json!(2)]));
    assert_eq!(
        outputs(".a.b[-1] + .n * 2", doc.clone()),
        Ok(vec![json!(17)])
    );
    assert_eq!(
        outputs(".a.b[]", doc.clone()),
        Ok(vec![json!(1), json!(2), json!(3)])
    );
    assert_eq!(
        outputs(".missing.deeper", doc.clone()),
        Ok(vec![json!(null)])
    );
    assert_eq!(
        outputs(".n / 2, .n % 4", doc.clone()),
        Ok(vec![json!(3.5), json!(3)])
    );
    assert_eq!(
        outputs(r#""\(.s), \(.n)!""#, doc.clone()),
        Ok(vec![json!("Hi, 7!")])
    );
    assert_eq!(
        outputs(".x // \"default\"", doc.clone()),
        Ok(vec![json!("default")])
    );
    assert_eq!(
        outputs("[.a.b[] | select(. > 1)]", doc.clone()),
        Ok(vec![json!([2, 3])])
    );
    assert_eq!(
        outputs("{s, total: (.a.b | add)}", doc.clone()),
        Ok(vec![json!({"s": "Hi", "total": 6})])
    );
    assert_eq!(
        outputs(
            "if .n > 5 then \"big\" elif .n > 2 then \"mid\" else \"small\" end",
            doc.clone()
        ),
        Ok(vec![json!("big")])
    );
    assert_eq!(outputs(".n as $x | $x + 1", doc), Ok(vec![json!(8)]));
}

#[test]
fn assignment_and_update_keep_key_order() {
    let doc = json!({"service": "api", "latency_ms": 150});
    let out = outputs(
        ".slow = (.latency_ms > 100) | .service |= ascii_upcase",
        doc,
    )
    .expect("runs");
    assert_eq!(
        out,
        vec![json!({"service": "API", "latency_ms": 150, "slow": true})]
    );
    assert_eq!(
        serde_json::to_string(&out[0]).expect("json"),
        r#"{"service":"API","latency_ms":150,"slow":true}"#
    );
    assert_eq!(
        outputs(".n += 2 | del(.x)", json!({"n": 1, "x": 0})),
        Ok(vec![json!({"n": 3})])
    );
}

#[test]
fn comparisons_follow_jq_order_and_logic() {
    let doc = json!({"level": "WARN"});
    assert_eq!(
        outputs(r#".level == "ERROR" or .level == "WARN""#, doc.clone()),
        Ok(vec![json!(true)])
    );
    assert_eq!(
        outputs("null < false and 1 < \"a\" and [1] < {}", doc.clone()),
        Ok(vec![json!(true)])
    );
    assert_eq!(outputs("1 == 1.0", doc), Ok(vec![json!(true)]));
}

#[test]
fn errors_say_what_went_wrong() {
    let err = outputs(".a + 1", json!({"a": "x"})).expect_err("string plus number");
    assert_eq!(err, r#"string ("x") and number (1) cannot be added"#);
    assert_eq!(
        outputs("try (.a + 1) catch \"no\"", json!({"a": "x"})),
        Ok(vec![json!("no")])
    );
    assert_eq!(
        outputs(".a.b", json!({"a": 3})).expect_err("index"),
        "cannot index number with string (\"b\")"
    );
}

#[test]
fn string_functions() {
    let doc = json!({"msg": "request completed path=/v1 status=500"});
    assert_eq!(
        outputs(r#".msg | test("status=5\\d\\d")"#, doc.clone()),
        Ok(vec![json!(true)])
    );
    assert_eq!(
        outputs(r#".msg | sub("status=\\d+"; "status=?")"#, doc.clone()),
        Ok(vec![json!("request completed path=/v1 status=?")])
    );
    assert_eq!(
        outputs(r#".msg | split(" ") | length"#, doc.clone()),
        Ok(vec![json!(4)])
    );
    assert_eq!(
        outputs(r#"["a", 1, null] | join("-")"#, doc),
        Ok(vec![json!("a-1-")])
    );
}

#[test]
fn outside_the_subset_falls_back() {
    assert!(compile("reduce .[] as $x (0; . + $x)").is_none());
    assert!(compile("def f: 1; f").is_none());
    assert!(compile(".a[1:2]").is_none());
}

#[test]
fn reads_only_the_keys_a_condition_names() {
    let program = compile(r#".level == "ERROR" or (.http.status // 0) >= 500"#).expect("native");
    let slots = program.slots.as_ref().expect("keys only");
    assert_eq!(slots.keys, vec!["level", "http"]);
    assert_eq!(
        slots.pick(br#"{"http":{"status":503},"level":"INFO","x":1}"#),
        Some(json!(["INFO", {"status": 503}]))
    );
    assert_eq!(slots.pick(br#"{"x":1}"#), Some(json!([null, null])));
    assert_eq!(slots.pick(b"[1]"), None);
    assert!(compile(".slow = true").expect("native").slots.is_none());
    assert!(compile("keys").expect("native").slots.is_none());
    let event = Event::from_json_bytes(bytes::Bytes::from_static(
        br#"{"level":"ERROR","big":[1,2,3]}"#,
    ));
    assert_eq!(test(&program, &event), Ok(true));
    assert!(event.raw().is_some(), "the event was not rebuilt");
}

#[test]
fn field_edits_run_on_the_text() {
    let doc = json!({"a": 1, "s": "x", "nested": {"k": [1, 2]}, "gone": true});
    for code in [
        ".b = .a + 1",
        ".s |= ascii_upcase | .a += 10",
        "del(.gone) | .c = \"new\"",
        ".a = (.nested.k | length)",
        ".s |= empty",
    ] {
        assert!(
            compile(code).expect("native").edit.is_some(),
            "`{code}` is an edit"
        );
        outputs(code, doc.clone()).expect("runs");
    }
    assert!(
        compile(".a = .").expect("native").edit.is_none(),
        "reads the whole input"
    );
    assert!(
        compile(".a.b = 1").expect("native").edit.is_none(),
        "not a top-level field"
    );
    let program = compile(".a = (1, 2)").expect("native");
    assert!(
        edit_raw(&program, br#"{"a":0}"#).is_none(),
        "two results: the general path"
    );
}

#[test]
fn picks_top_level_keys_from_text() {
    let keys: Vec<String> = ["b", "d", "e!"].iter().map(|k| (*k).to_owned()).collect();
    let raw = br#" { "a": {"x": "}]\"["}, "b" : [1, {"y": 2}], "c":"q\"uote", "d": -1.5e3, "e\u0021": null } "#;
    assert_eq!(
        pick(raw, &keys),
        Some(json!({"b": [1, {"y": 2}], "d": -1500.0, "e!": null}))
    );
    assert_eq!(pick(b"[1]", &keys), None);
    assert_eq!(pick(b"{}", &keys), Some(json!({})));
}

#[test]
fn conditions_agree_on_the_fast_and_general_paths() {
    let doc = json!({"level": "WARN", "n": 3, "tags": ["a"], "nested": {"x": null}});
    for (code, expected) in [
        (r#".level == "ERROR" or .level == "WARN""#, true),
        (".n > 2 and .n < 3", false),
        (".nested.x", false),
        (r#".tags[0] == "a""#, true),
        (".missing.deeper == null", true),
        ("(.n + 1) == 4", true),
    ] {
        let program = compile(code).expect("native");
        assert_eq!(
            test(&program, &Event::new(doc.clone())),
            Ok(expected),
            "{code}"
        );
        let general = outputs(code, doc.clone()).expect("runs");
        assert_eq!(general.first().is_some_and(truthy), expected, "{code}");
    }
    let program = compile(".level.x == 1").expect("native");
    assert!(
        test(&program, &Event::new(doc)).is_err(),
        "errors come from the general path"
    );
}
