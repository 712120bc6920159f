//! Options of ours written in a store's address (`?schema=jobs`, `?prefix=app`), which the
//! drivers do not know: taken out before the address reaches them.

/// Removes the query parameter `name` from `url`, returning the rest of the address and the
/// parameter's value (for options of ours that the drivers do not know).
#[cfg_attr(not(any(feature = "postgres", feature = "redis")), allow(dead_code))]
pub(super) fn take_param(url: &str, name: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut value = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((key, v)) if key == name => {
                value = Some(v.to_owned());
                false
            }
            _ => true,
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_parameters_are_taken_out_of_addresses() {
        assert_eq!(
            take_param("postgres://h/db", "schema"),
            ("postgres://h/db".to_owned(), None)
        );
        assert_eq!(
            take_param("postgres://h/db?schema=jobs", "schema"),
            ("postgres://h/db".to_owned(), Some("jobs".to_owned()))
        );
        assert_eq!(
            take_param(
                "postgres://h/db?sslmode=require&schema=jobs&application_name=x",
                "schema"
            ),
            (
                "postgres://h/db?sslmode=require&application_name=x".to_owned(),
                Some("jobs".to_owned())
            )
        );
    }
}
