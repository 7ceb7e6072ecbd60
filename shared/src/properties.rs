//! Reading CloudFormation resource properties.
//!
//! CloudFormation sends every scalar as a string (`"100"`, `"true"`); users who invoke a function
//! by hand send native JSON. Both are accepted. Every error names the property and what was
//! expected, so the stack's event list tells the user exactly what to fix.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use crate::error::PropertyError;

/// Properties CloudFormation adds to every custom resource; never reported as unknown.
const ALWAYS_ACCEPTED: [&str; 2] = ["ServiceToken", "ServiceTimeout"];
/// Longest excerpt of a bad value quoted back in an error.
const QUOTE_LIMIT: usize = 60;

/// A read-only view of `ResourceProperties`.
#[derive(Debug, Clone, Copy)]
pub struct Properties<'a> {
    map: Option<&'a Map<String, Value>>,
}

impl<'a> Properties<'a> {
    /// The view for Create and Update: the properties must be an object and every name must be
    /// in `accepted` (or one CloudFormation adds itself).
    pub fn strict(value: &'a Value, accepted: &[&str]) -> Result<Self, PropertyError> {
        let map = match value {
            Value::Object(map) => map,
            Value::Null => return Ok(Self { map: None }),
            other => {
                return Err(PropertyError::NotAnObject {
                    found: describe(other),
                });
            }
        };
        let unknown: Vec<&str> = map
            .keys()
            .map(String::as_str)
            .filter(|name| !accepted.contains(name) && !ALWAYS_ACCEPTED.contains(name))
            .collect();
        if !unknown.is_empty() {
            return Err(PropertyError::Unknown {
                names: unknown.join(", "),
                accepted: accepted.join(", "),
            });
        }
        Ok(Self { map: Some(map) })
    }

    /// The view for Delete: never fails; anything that is not an object reads as empty.
    pub fn lenient(value: &'a Value) -> Self {
        Self {
            map: value.as_object(),
        }
    }

    /// The value as sent, `None` when absent or null.
    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.get(name)
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map
            .and_then(|map| map.get(name))
            .filter(|value| !value.is_null())
    }

    /// An optional string; numbers and booleans are taken as their text. An empty string
    /// counts as absent, as CloudFormation users write `""` to mean "not set".
    pub fn string(&self, name: &str) -> Result<Option<String>, PropertyError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.trim().to_owned())),
            Some(Value::Number(number)) => Ok(Some(number.to_string())),
            Some(Value::Bool(flag)) => Ok(Some(flag.to_string())),
            Some(other) => Err(invalid(name, "a string", other)),
        }
    }

    /// A string that must be present and non-empty; `expected` says what it should hold.
    pub fn required_string(&self, name: &str, expected: &str) -> Result<String, PropertyError> {
        self.string(name)?.ok_or_else(|| PropertyError::Missing {
            name: name.to_owned(),
            expected: expected.to_owned(),
        })
    }

    /// An optional whole number within `range`, given as a number or a string of digits.
    pub fn integer(
        &self,
        name: &str,
        range: RangeInclusive<i64>,
    ) -> Result<Option<i64>, PropertyError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let expected = || format!("a whole number from {} to {}", range.start(), range.end());
        let number = match value {
            Value::Number(number) => number.as_i64(),
            Value::String(text) if text.trim().is_empty() => return Ok(None),
            Value::String(text) => text.trim().parse::<i64>().ok(),
            _ => None,
        };
        match number {
            Some(number) if range.contains(&number) => Ok(Some(number)),
            _ => Err(invalid(name, &expected(), value)),
        }
    }

    /// An optional boolean: `true`/`false` as JSON or as a string (any case).
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, PropertyError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(value @ Value::String(text)) => match text.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(invalid(name, "true or false", value)),
            },
            Some(other) => Err(invalid(name, "true or false", other)),
        }
    }

    /// An optional list of strings: a JSON array of strings, or one string of comma-separated
    /// items (how a `CommaDelimitedList` may arrive). Items are trimmed; empty items are an
    /// error, and an empty list counts as absent.
    pub fn string_list(&self, name: &str) -> Result<Option<Vec<String>>, PropertyError> {
        const EXPECTED: &str = "a list of strings";
        let items: Vec<String> = match self.get(name) {
            None => return Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => return Ok(None),
            Some(Value::String(text)) => {
                text.split(',').map(|item| item.trim().to_owned()).collect()
            }
            Some(Value::Array(values)) => values
                .iter()
                .map(|value| match value {
                    Value::String(text) => Ok(text.trim().to_owned()),
                    other => Err(PropertyError::Invalid {
                        name: name.to_owned(),
                        expected: EXPECTED.to_owned(),
                        found: format!("an item that is {}", kind(other)),
                    }),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(invalid(name, EXPECTED, other)),
        };
        if items.is_empty() {
            return Ok(None);
        }
        if items.iter().any(String::is_empty) {
            return Err(PropertyError::Invalid {
                name: name.to_owned(),
                expected: EXPECTED.to_owned(),
                found: "an empty item".to_owned(),
            });
        }
        Ok(Some(items))
    }

    /// An optional value out of `allowed`, matched without regard to case and returned in the
    /// spelling of `allowed`.
    pub fn choice(
        &self,
        name: &str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, PropertyError> {
        let Some(text) = self.string(name)? else {
            return Ok(None);
        };
        allowed
            .iter()
            .find(|candidate| candidate.eq_ignore_ascii_case(&text))
            .copied()
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    name,
                    &format!("one of {}", allowed.join(", ")),
                    &Value::String(text),
                )
            })
    }

    /// An optional map of strings: a JSON object, or a string holding one (CloudFormation
    /// passes `!Sub '{"A":"b"}'` as text). Scalar values are taken as their text. Values are
    /// never quoted back in errors: they may be sensitive.
    pub fn string_map(
        &self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, PropertyError> {
        const EXPECTED: &str = "a JSON object of strings";
        let parsed;
        let object = match self.get(name) {
            None => return Ok(None),
            Some(Value::Object(object)) => object,
            Some(Value::String(text)) if text.trim().is_empty() => return Ok(None),
            Some(Value::String(text)) => {
                parsed =
                    serde_json::from_str::<Value>(text).map_err(|_| PropertyError::Invalid {
                        name: name.to_owned(),
                        expected: EXPECTED.to_owned(),
                        found: "text that is not a JSON object".to_owned(),
                    })?;
                parsed.as_object().ok_or_else(|| PropertyError::Invalid {
                    name: name.to_owned(),
                    expected: EXPECTED.to_owned(),
                    found: format!("JSON {}", kind(&parsed)),
                })?
            }
            Some(other) => {
                return Err(PropertyError::Invalid {
                    name: name.to_owned(),
                    expected: EXPECTED.to_owned(),
                    found: kind(other).to_owned(),
                });
            }
        };
        object
            .iter()
            .map(|(key, value)| match value {
                Value::String(text) => Ok((key.clone(), text.clone())),
                Value::Number(number) => Ok((key.clone(), number.to_string())),
                Value::Bool(flag) => Ok((key.clone(), flag.to_string())),
                other => Err(PropertyError::Invalid {
                    name: format!("{name}.{key}"),
                    expected: "a string".to_owned(),
                    found: kind(other).to_owned(),
                }),
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

fn invalid(name: &str, expected: &str, found: &Value) -> PropertyError {
    PropertyError::Invalid {
        name: name.to_owned(),
        expected: expected.to_owned(),
        found: describe(found),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A short description of a value for an error message: scalars quoted (cut to a few dozen
/// characters), containers by kind only.
fn describe(value: &Value) -> String {
    match value {
        Value::String(text) => {
            let mut quoted: String = text.chars().take(QUOTE_LIMIT).collect();
            if text.chars().count() > QUOTE_LIMIT {
                quoted.push_str("...");
            }
            format!("\"{quoted}\"")
        }
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        other => kind(other).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ACCEPTED: [&str; 4] = ["Name", "Count", "Flag", "Env"];

    fn strict(value: &Value) -> Properties<'_> {
        Properties::strict(value, &ACCEPTED).expect("known properties")
    }

    #[test]
    fn lists_arrive_as_arrays_or_comma_separated_text() {
        let as_text = json!({"Name": "subnet-a, subnet-b"});
        let native = json!({"Name": ["subnet-a", " subnet-b"]});
        for value in [&as_text, &native] {
            assert_eq!(
                strict(value).string_list("Name").unwrap(),
                Some(vec!["subnet-a".to_owned(), "subnet-b".to_owned()])
            );
        }
        assert_eq!(
            strict(&json!({"Name": ""})).string_list("Name").unwrap(),
            None
        );
        assert_eq!(
            strict(&json!({"Name": []})).string_list("Name").unwrap(),
            None
        );
        for bad in [
            json!({"Name": "a,,b"}),
            json!({"Name": [1]}),
            json!({"Name": {"a": 1}}),
        ] {
            let error = strict(&bad).string_list("Name").unwrap_err().to_string();
            assert!(
                error.contains("property Name is invalid: expected a list of strings"),
                "{error}"
            );
        }
    }

    #[test]
    fn strings_and_native_json_read_alike() {
        let as_text = json!({"Count": "100", "Flag": "TRUE", "Name": " x "});
        let native = json!({"Count": 100, "Flag": true, "Name": "x"});
        for value in [&as_text, &native] {
            let props = strict(value);
            assert_eq!(props.integer("Count", 1..=100).unwrap(), Some(100));
            assert_eq!(props.boolean("Flag").unwrap(), Some(true));
            assert_eq!(props.string("Name").unwrap().as_deref(), Some("x"));
        }
    }

    #[test]
    fn unknown_names_are_listed_but_cloudformation_own_are_not() {
        let value =
            json!({"ServiceToken": "arn", "ServiceTimeout": "300", "Nmae": "x", "Other": 1});
        let error = Properties::strict(&value, &ACCEPTED).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown properties Nmae, Other; accepted: Name, Count, Flag, Env"
        );
    }

    #[test]
    fn out_of_range_and_wrong_type_name_the_property() {
        let value = json!({"Count": "150", "Flag": "yes", "Name": ["a"]});
        let props = strict(&value);
        assert_eq!(
            props.integer("Count", 1..=100).unwrap_err().to_string(),
            "property Count is invalid: expected a whole number from 1 to 100, got \"150\""
        );
        assert_eq!(
            props.boolean("Flag").unwrap_err().to_string(),
            "property Flag is invalid: expected true or false, got \"yes\""
        );
        assert_eq!(
            props.string("Name").unwrap_err().to_string(),
            "property Name is invalid: expected a string, got an array"
        );
    }

    #[test]
    fn missing_required_and_empty_read_as_absent() {
        let value = json!({"Name": "  "});
        let props = strict(&value);
        assert_eq!(
            props
                .required_string("Name", "the group's name")
                .unwrap_err()
                .to_string(),
            "property Name is required: expected the group's name"
        );
        assert_eq!(props.integer("Count", 1..=2).unwrap(), None);
    }

    #[test]
    fn choices_match_any_case_and_answer_canonically() {
        let value = json!({"Name": "enabled"});
        assert_eq!(
            strict(&value)
                .choice("Name", &["ENABLED", "DISABLED"])
                .unwrap(),
            Some("ENABLED")
        );
        let bad = json!({"Name": "on"});
        assert_eq!(
            strict(&bad)
                .choice("Name", &["ENABLED", "DISABLED"])
                .unwrap_err()
                .to_string(),
            "property Name is invalid: expected one of ENABLED, DISABLED, got \"on\""
        );
    }

    #[test]
    fn string_maps_come_as_objects_or_json_text_and_never_echo_values() {
        let object = json!({"Env": {"A": "1", "B": 2}});
        let text = json!({"Env": "{\"A\":\"1\",\"B\":2}"});
        for value in [&object, &text] {
            let map = strict(value).string_map("Env").unwrap().unwrap();
            assert_eq!(map.get("B").map(String::as_str), Some("2"));
        }
        let broken = json!({"Env": "{\"TOKEN\": \"s3cr3t\""});
        let error = strict(&broken).string_map("Env").unwrap_err().to_string();
        assert!(!error.contains("s3cr3t"), "{error}");
        let nested = json!({"Env": {"TOKEN": {"v": "s3cr3t"}}});
        let error = strict(&nested).string_map("Env").unwrap_err().to_string();
        assert_eq!(
            error,
            "property Env.TOKEN is invalid: expected a string, got an object"
        );
    }

    #[test]
    fn lenient_reads_anything_without_failing_on_names() {
        let value = json!({"Unknown": 1, "Count": "7"});
        let props = Properties::lenient(&value);
        assert_eq!(props.integer("Count", 0..=10).unwrap(), Some(7));
        assert_eq!(
            Properties::lenient(&json!("junk")).string("Name").unwrap(),
            None
        );
    }

    #[test]
    fn a_non_object_is_refused_in_strict_mode() {
        assert_eq!(
            Properties::strict(&json!([1]), &ACCEPTED)
                .unwrap_err()
                .to_string(),
            "ResourceProperties must be a JSON object, got an array"
        );
    }
}
