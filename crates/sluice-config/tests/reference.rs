//! `docs/reference.yaml` shows every option of every component: it must load, and it must name
//! every component type.

use std::collections::BTreeSet;

#[test]
fn the_reference_loads_and_covers_every_type() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/reference.yaml");
    let text = std::fs::read_to_string(path).expect("docs/reference.yaml");
    let graph = sluice_config::load(&sluice_config::Source {
        file: "docs/reference.yaml",
        text: &text,
        sets: &[],
        env: &|_| None,
    })
    .unwrap_or_else(|problems| panic!("the reference does not load:\n{problems}"));
    let used: BTreeSet<(String, String)> = graph
        .spec
        .components
        .iter()
        .map(|c| (c.kind.to_string(), c.type_name.clone()))
        .collect();
    for t in sluice_connect::registry::TYPES {
        assert!(
            used.contains(&(t.kind.to_string(), t.name.to_owned())),
            "docs/reference.yaml has no {} of type `{}`",
            t.kind,
            t.name
        );
    }
}
