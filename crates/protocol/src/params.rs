//! Parameters a scenario file passes to a system (`w = 2`, `read_repair = true`).
//!
//! Kept as strings so this crate needs no serialisation format; systems read them through
//! typed getters that name the parameter and what was expected when a value is wrong.

use core::time::Duration;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub BTreeMap<String, String>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    pub name: String,
    pub value: String,
    pub expected: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parameter `{}` = {:?}: expected {}",
            self.name, self.value, self.expected
        )
    }
}

impl std::error::Error for ParamError {}

impl Params {
    pub fn new() -> Params {
        Params::default()
    }

    pub fn with(mut self, name: &str, value: impl ToString) -> Params {
        self.0.insert(name.to_string(), value.to_string());
        self
    }

    fn parse<T: FromStr>(&self, name: &str, default: T, expected: &str) -> Result<T, ParamError> {
        match self.0.get(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|_| ParamError {
                name: name.to_string(),
                value: raw.clone(),
                expected: expected.to_string(),
            }),
        }
    }

    pub fn u64(&self, name: &str, default: u64) -> Result<u64, ParamError> {
        self.parse(name, default, "a whole number")
    }

    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ParamError> {
        self.parse(name, default, "true or false")
    }

    pub fn millis(&self, name: &str, default_ms: u64) -> Result<Duration, ParamError> {
        self.parse(name, default_ms, "a whole number of milliseconds")
            .map(Duration::from_millis)
    }

    /// One of `choices`; the error lists them.
    pub fn choice(
        &self,
        name: &str,
        default: &str,
        choices: &[&str],
    ) -> Result<String, ParamError> {
        let value = self.0.get(name).map(String::as_str).unwrap_or(default);
        if choices.contains(&value) {
            Ok(value.to_string())
        } else {
            Err(ParamError {
                name: name.to_string(),
                value: value.to_string(),
                expected: format!("one of {}", choices.join(", ")),
            })
        }
    }

    /// Rejects any name outside `known`, so a typo in a scenario file is an error rather
    /// than a silently ignored setting.
    pub fn only(&self, known: &[&str]) -> Result<(), ParamError> {
        match self.0.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some((name, value)) => Err(ParamError {
                name: name.clone(),
                value: value.clone(),
                expected: format!("a known parameter: one of {}", known.join(", ")),
            }),
        }
    }
}
