//! Environment variables in pipeline files: `${VAR}`, `${VAR:-default}`, and `$$` for a `$`.
//!
//! Interpolation happens on the text before it is parsed, so a variable can hold any YAML, and
//! line numbers stay those of the file as long as values have no line breaks.

use crate::diagnostic::Loc;

/// Replaces variables in `text` using `lookup`; every undefined variable without a default is
/// reported with its place.
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, Vec<(Loc, String)>> {
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut rest = text;
    let mut consumed = 0;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            consumed += at + 2;
            rest = tail;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            out.push('$');
            consumed += at + 1;
            rest = after;
            continue;
        };
        let place = place_of(text, consumed + at);
        let Some(end) = body.find('}') else {
            errors.push((place, "`${` is not closed; write `${NAME}` or `${NAME:-default}` (`$$` for a literal `$`)".to_owned()));
            out.push_str(&rest[at..]);
            rest = "";
            break;
        };
        let inner = &body[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            match (lookup(name), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => errors.push((
                    place,
                    format!("environment variable `{name}` is not set; set it, or give a default: `${{{name}:-value}}`"),
                )),
            }
        } else {
            errors.push((
                place,
                format!("`${{{inner}}}` is not a variable; names are letters, digits and `_`"),
            ));
        }
        consumed += at + 2 + end + 1;
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn place_of(text: &str, offset: usize) -> Loc {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() as u32 + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
    Loc { line, column }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "HOME_DIR").then(|| "/home/ann".to_owned())
    }

    #[test]
    fn replaces_defaults_and_escapes() {
        let out = interpolate(
            "path: ${HOME_DIR}/x\nlevel: ${LEVEL:-info}\ncost: $$5 and $ alone",
            env,
        )
        .expect("ok");
        assert_eq!(out, "path: /home/ann/x\nlevel: info\ncost: $5 and $ alone");
    }

    #[test]
    fn reports_every_missing_variable_with_its_place() {
        let errs = interpolate("a: ${ONE}\nb:  ${TWO}\nc: ${bad name}", env).expect_err("missing");
        assert_eq!(errs.len(), 3);
        assert_eq!(errs[0].0, Loc { line: 1, column: 4 });
        assert_eq!(errs[1].0, Loc { line: 2, column: 5 });
        assert!(errs[0].1.contains("`${ONE:-value}`"));
        assert!(errs[2].1.contains("is not a variable"));
    }
}
