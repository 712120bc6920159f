//! A component's settings as an operator may see them: as written, secrets masked.
//!
//! A value is masked when its key names a secret (`password`, `token`, `secret`, `api_key`,
//! `authorization`, `cookie`, `credentials`, `private_key`, …) and, in any string, the password
//! of an address (`postgres://user:PASSWORD@host`).

use std::collections::HashMap;

use serde_json::Value;

use crate::spec::ComponentSpec;

/// What a masked value shows.
const MASK: &str = "****";

/// Words that mark a key's value as secret.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "credential",
    "private_key",
    "sasl",
];

impl ComponentSpec {
    /// Its options (all but `type` and `inputs`) as JSON, secrets masked.
    pub fn settings(&self) -> Value {
        let mut value = self
            .node
            .without(&["type", "inputs"])
            .to_json("", &mut HashMap::new());
        mask(&mut value);
        value
    }
}

/// Masks the secrets in `value`, in place.
fn mask(value: &mut Value) {
    match value {
        Value::Object(entries) => {
            for (key, value) in entries.iter_mut() {
                let key = key.to_ascii_lowercase();
                if SECRET_WORDS.iter().any(|w| key.contains(w)) && !value.is_null() {
                    *value = Value::String(MASK.to_owned());
                } else {
                    mask(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        Value::String(text) => {
            if let Some(masked) = address_without_password(text) {
                *text = masked;
            }
        }
        _ => {}
    }
}

/// `scheme://user:PASSWORD@rest` with the password masked; `None` when there is none.
fn address_without_password(text: &str) -> Option<String> {
    let (scheme, rest) = text.split_once("://")?;
    let (userinfo, host) = rest.split_once('@')?;
    if userinfo.contains('/') {
        return None;
    }
    let (user, _) = userinfo.split_once(':')?;
    Some(format!("{scheme}://{user}:{MASK}@{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_and_passwords_in_addresses_are_masked() {
        let mut v = json!({
            "url": "postgres://app:hunter2@db:5432/orders",
            "plain": "http://example.com/a@b",
            "auth": { "token": "abc", "user": "me" },
            "headers": { "Authorization": "Bearer x", "Accept": "json" },
            "brokers": ["amqp://guest:guest@127.0.0.1:5672/%2f"],
            "password": null,
        });
        mask(&mut v);
        assert_eq!(
            v,
            json!({
                "url": "postgres://app:****@db:5432/orders",
                "plain": "http://example.com/a@b",
                "auth": { "token": "****", "user": "me" },
                "headers": { "Authorization": "****", "Accept": "json" },
                "brokers": ["amqp://guest:****@127.0.0.1:5672/%2f"],
                "password": null,
            })
        );
    }
}
