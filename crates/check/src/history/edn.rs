//! A small reader and writer for the subset of EDN that Jepsen histories use: maps,
//! vectors, lists, sets, keywords, strings, integers, `nil`, booleans and bare symbols.
//!
//! Not a checker: the Jepsen parsers in `jepsen.rs` build on it. Errors carry a column
//! and what was expected, so the caller can prefix the line number.

use std::fmt::Write as _;

/// One EDN value. Maps keep their entries in file order (a Vec, not a hash table), so
/// nothing downstream depends on hashing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Str(String),
    /// Without the leading colon.
    Keyword(String),
    Symbol(String),
    Vector(Vec<Edn>),
    Set(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    /// The value for keyword key `:name` in a map.
    pub fn get(&self, name: &str) -> Option<&Edn> {
        match self {
            Edn::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(n) if n == name))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short description for error messages ("a string", "the keyword :ok").
    pub fn describe(&self) -> String {
        match self {
            Edn::Nil => "nil".into(),
            Edn::Bool(b) => format!("{b}"),
            Edn::Int(i) => format!("the integer {i}"),
            Edn::Str(s) => format!("the string {s:?}"),
            Edn::Keyword(k) => format!("the keyword :{k}"),
            Edn::Symbol(s) => format!("the symbol {s}"),
            Edn::Vector(_) => "a vector".into(),
            Edn::Set(_) => "a set".into(),
            Edn::Map(_) => "a map".into(),
        }
    }
}

/// Where parsing stopped (1-based column) and what was expected there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdnError {
    pub column: usize,
    pub expected: String,
}

/// Parses exactly one EDN value from `text` (surrounding whitespace and commas allowed).
pub fn parse(text: &str) -> Result<Edn, EdnError> {
    let mut r = Reader {
        s: text.as_bytes(),
        pos: 0,
    };
    let v = r.value()?;
    r.skip_ws();
    if r.pos < r.s.len() {
        return Err(r.err("end of input after one value"));
    }
    Ok(v)
}

struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn err(&self, expected: &str) -> EdnError {
        EdnError {
            column: self.pos + 1,
            expected: expected.to_string(),
        }
    }

    fn skip_ws(&mut self) {
        while let Some(&c) = self.s.get(self.pos) {
            // Commas are whitespace in EDN.
            if c.is_ascii_whitespace() || c == b',' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn value(&mut self) -> Result<Edn, EdnError> {
        self.skip_ws();
        let Some(&c) = self.s.get(self.pos) else {
            return Err(self.err("a value"));
        };
        match c {
            b'{' => {
                self.pos += 1;
                let items = self.seq(b'}')?;
                if items.len() % 2 != 0 {
                    return Err(self.err("an even number of forms in a map"));
                }
                let mut entries = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    entries.push((k, v));
                }
                Ok(Edn::Map(entries))
            }
            b'[' => {
                self.pos += 1;
                Ok(Edn::Vector(self.seq(b']')?))
            }
            b'(' => {
                self.pos += 1;
                Ok(Edn::Vector(self.seq(b')')?))
            }
            b'#' => {
                if self.s.get(self.pos + 1) == Some(&b'{') {
                    self.pos += 2;
                    Ok(Edn::Set(self.seq(b'}')?))
                } else {
                    Err(self.err("`#{` (only sets are supported among tagged forms)"))
                }
            }
            b'"' => self.string(),
            b':' => {
                self.pos += 1;
                let t = self.token();
                if t.is_empty() {
                    return Err(self.err("a keyword name after `:`"));
                }
                Ok(Edn::Keyword(t))
            }
            b'}' | b']' | b')' => Err(self.err("a value, not a closing bracket")),
            _ => {
                let start = self.pos;
                let t = self.token();
                if t.is_empty() {
                    self.pos = start;
                    return Err(self.err("a value"));
                }
                Ok(match t.as_str() {
                    "nil" => Edn::Nil,
                    "true" => Edn::Bool(true),
                    "false" => Edn::Bool(false),
                    _ => {
                        let first = t.as_bytes()[0];
                        let numeric = first.is_ascii_digit()
                            || ((first == b'-' || first == b'+') && t.len() > 1);
                        if numeric {
                            match t.parse::<i64>() {
                                Ok(i) => Edn::Int(i),
                                Err(_) => {
                                    self.pos = start;
                                    return Err(self.err("an integer"));
                                }
                            }
                        } else {
                            Edn::Symbol(t)
                        }
                    }
                })
            }
        }
    }

    fn token(&mut self) -> String {
        let start = self.pos;
        while let Some(&c) = self.s.get(self.pos) {
            if c.is_ascii_whitespace() || b",{}[]()\"#".contains(&c) {
                break;
            }
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
    }

    fn seq(&mut self, close: u8) -> Result<Vec<Edn>, EdnError> {
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.s.get(self.pos) {
                None => return Err(self.err(&format!("`{}` to close", close as char))),
                Some(&c) if c == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(_) => items.push(self.value()?),
            }
        }
    }

    fn string(&mut self) -> Result<Edn, EdnError> {
        self.pos += 1; // opening quote
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Err(self.err("a closing `\"`"));
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        return Err(self.err("an escaped character after `\\`"));
                    };
                    self.pos += 1;
                    out.push(match e {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        other => other,
                    });
                }
                other => out.push(other),
            }
        }
        match String::from_utf8(out) {
            Ok(s) => Ok(Edn::Str(s)),
            Err(_) => Err(self.err("a UTF-8 string")),
        }
    }
}

/// Renders a string as an EDN string literal.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Renders a value back as EDN text.
pub fn write(out: &mut String, v: &Edn) {
    match v {
        Edn::Nil => out.push_str("nil"),
        Edn::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Edn::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Edn::Str(s) => write_str(out, s),
        Edn::Keyword(k) => {
            out.push(':');
            out.push_str(k);
        }
        Edn::Symbol(s) => out.push_str(s),
        Edn::Vector(items) | Edn::Set(items) => {
            out.push_str(if matches!(v, Edn::Set(_)) { "#{" } else { "[" });
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write(out, x);
            }
            out.push(if matches!(v, Edn::Set(_)) { '}' } else { ']' });
        }
        Edn::Map(entries) => {
            out.push('{');
            for (i, (k, x)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(out, k);
                out.push(' ');
                write(out, x);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_jepsen_map() {
        let v = parse(r#"{:process 0, :type :ok, :f :cas, :key "4", :value [1 nil], :s #{1 2}}"#)
            .unwrap();
        assert_eq!(v.get("process"), Some(&Edn::Int(0)));
        assert_eq!(v.get("type"), Some(&Edn::Keyword("ok".into())));
        assert_eq!(v.get("key"), Some(&Edn::Str("4".into())));
        assert_eq!(
            v.get("value"),
            Some(&Edn::Vector(vec![Edn::Int(1), Edn::Nil]))
        );
        assert_eq!(v.get("s"), Some(&Edn::Set(vec![Edn::Int(1), Edn::Int(2)])));
        let mut out = String::new();
        write(&mut out, &v);
        assert_eq!(parse(&out).unwrap(), v);
    }

    #[test]
    fn errors_say_where_and_what() {
        let e = parse("{:a 1").unwrap_err();
        assert_eq!(e.expected, "`}` to close");
        let e = parse("{:a}").unwrap_err();
        assert!(e.expected.contains("even number"));
        let e = parse("\"abc").unwrap_err();
        assert!(e.expected.contains("closing"));
        let e = parse("12x").unwrap_err();
        assert_eq!((e.column, e.expected.as_str()), (1, "an integer"));
        assert!(parse("1 2").is_err());
    }
}
