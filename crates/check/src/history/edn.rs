//! A small, tolerant reader and writer for the EDN that Jepsen's tools print: maps,
//! vectors, lists, sets, keywords, strings, integers, `nil`, booleans, symbols; `;`
//! comments and `#_` discards; commas as whitespace; forms over several lines; numbers
//! that are not 64-bit integers (`1.5e9`, `1/2`, `12N`) kept as written; and tagged
//! literals (`#inst "..."`, `#jepsen.history.Op{...}`, `#object[...]`) read as the form
//! they tag, the tag dropped, since what Jepsen tags is data a history reader wants.
//!
//! Not a checker: the Jepsen parsers in `jepsen.rs` build on it. [`forms`] and
//! [`items`] read a file's top-level forms one at a time with the line each starts on;
//! errors carry the line and column where reading stopped, the line the form being read
//! started on, and what was expected there.

use std::fmt::Write as _;

/// One EDN value. Maps keep their entries in file order (a Vec, not a hash table), so
/// nothing downstream depends on hashing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    /// A number that is not a 64-bit integer (a float, ratio, big or radix number), as
    /// written: no history field this crate uses holds one, so it is kept rather than
    /// interpreted, and a value nobody reads (`:time 1.5e9`) never stops a file.
    Number(String),
    Str(String),
    /// Without the leading colon.
    Keyword(String),
    /// Also characters (`\a`), as written.
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
            Edn::Number(n) => format!("the number {n}"),
            Edn::Str(s) => format!("the string {s:?}"),
            Edn::Keyword(k) => format!("the keyword :{k}"),
            Edn::Symbol(s) => format!("the symbol {s}"),
            Edn::Vector(_) => "a vector".into(),
            Edn::Set(_) => "a set".into(),
            Edn::Map(_) => "a map".into(),
        }
    }
}

/// Where reading stopped and what was expected there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdnError {
    /// 1-based line where reading stopped.
    pub line: usize,
    /// 1-based column (in characters) where reading stopped.
    pub column: usize,
    /// The line the top-level form being read starts on: a map over several lines that
    /// never closes is reported where it opened.
    pub form_line: usize,
    pub expected: String,
}

/// Parses exactly one EDN value from `text` (surrounding whitespace, commas and
/// comments allowed).
pub fn parse(text: &str) -> Result<Edn, EdnError> {
    let mut r = Reader::new(text);
    r.skip_ws()?;
    r.form_start = r.pos;
    let v = r.value()?;
    r.skip_ws()?;
    if r.pos < r.s.len() {
        return Err(r.err("end of input after one value"));
    }
    Ok(v)
}

/// Parses one EDN value at the start of `text` (after whitespace) and returns it with
/// the byte offset just past it; whatever follows is the caller's.
pub fn parse_prefix(text: &str) -> Result<(Edn, usize), EdnError> {
    let mut r = Reader::new(text);
    r.skip_ws()?;
    r.form_start = r.pos;
    let v = r.value()?;
    Ok((v, r.pos))
}

/// A top-level form and where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Form {
    pub value: Edn,
    /// 1-based line and column of its first character.
    pub line: usize,
    pub column: usize,
}

/// The top-level forms of `text`, one at a time, in file order. Stops after the first
/// error, so an error early in a file is reported before anything later is read.
pub fn forms(text: &str) -> Forms<'_> {
    Forms::new(text, false)
}

/// As [`forms`], but a top-level vector or list yields its elements instead of itself,
/// each with its own line: a history printed as one vector of operation maps
/// (`[{...}\n {...}]`) reads like one printed a map per line.
pub fn items(text: &str) -> Forms<'_> {
    Forms::new(text, true)
}

/// The iterator behind [`forms`] and [`items`].
pub struct Forms<'a> {
    r: Reader<'a>,
    unwrap: bool,
    /// Inside an unwrapped top-level vector or list: its closing byte and where it opened.
    inside: Option<(u8, usize)>,
    done: bool,
    /// A (byte offset, line) pair at or before the next form, so lines are counted once.
    cursor: (usize, usize),
}

impl<'a> Forms<'a> {
    fn new(text: &'a str, unwrap: bool) -> Forms<'a> {
        let r = Reader::new(text);
        let start = r.pos;
        Forms {
            r,
            unwrap,
            inside: None,
            done: false,
            cursor: (start, 1),
        }
    }

    fn step(&mut self) -> Option<Result<Form, EdnError>> {
        loop {
            if let Err(e) = self.r.skip_ws() {
                return Some(Err(e));
            }
            let at = self.r.pos;
            match (self.r.s.get(at).copied(), self.inside) {
                (None, None) => return None,
                (None, Some((close, open))) => {
                    self.r.form_start = open;
                    return Some(Err(self.r.err(&format!(
                        "`{}` to close the {} opened {}",
                        close as char,
                        if close == b']' { "vector" } else { "list" },
                        self.r.opened(open)
                    ))));
                }
                (Some(c), Some((close, _))) if c == close => {
                    self.r.pos += 1;
                    self.inside = None;
                    continue;
                }
                (Some(c @ (b'[' | b'(')), None) if self.unwrap => {
                    self.inside = Some((if c == b'[' { b']' } else { b')' }, at));
                    self.r.pos += 1;
                    continue;
                }
                _ => {}
            }
            self.r.form_start = at;
            let value = match self.r.value() {
                Ok(v) => v,
                Err(e) => return Some(Err(e)),
            };
            let (from, mut line) = self.cursor;
            let mut line_start = 0;
            for (i, &b) in self.r.s[from..at].iter().enumerate() {
                if b == b'\n' {
                    line += 1;
                    line_start = from + i + 1;
                }
            }
            if line_start == 0 {
                line_start = self.r.line_start(at);
            }
            self.cursor = (at, line);
            let column = chars(&self.r.s[line_start..at]) + 1;
            return Some(Ok(Form {
                value,
                line,
                column,
            }));
        }
    }
}

impl Iterator for Forms<'_> {
    type Item = Result<Form, EdnError>;

    fn next(&mut self) -> Option<Result<Form, EdnError>> {
        if self.done {
            return None;
        }
        let next = self.step();
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }
}

/// Characters in `bytes` (UTF-8 continuation bytes do not start one).
fn chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count()
}

/// Bytes that end a token: whitespace, commas, brackets, quotes and comments.
fn is_delimiter(c: u8) -> bool {
    c.is_ascii_whitespace() || b",{}[]()\";".contains(&c)
}

struct Reader<'a> {
    text: &'a str,
    s: &'a [u8],
    pos: usize,
    /// Where the top-level form being read starts, for [`EdnError::form_line`].
    form_start: usize,
    /// How many collections are open (0: between top-level forms).
    depth: usize,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Reader<'a> {
        let s = text.as_bytes();
        // A byte-order mark some editors write is not part of the first form.
        let pos = if s.starts_with("\u{feff}".as_bytes()) {
            3
        } else {
            0
        };
        Reader {
            text,
            s,
            pos,
            form_start: pos,
            depth: 0,
        }
    }

    fn line_start(&self, pos: usize) -> usize {
        self.s[..pos]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1)
    }

    /// 1-based line and column of byte offset `pos`.
    fn line_col(&self, pos: usize) -> (usize, usize) {
        let pos = pos.min(self.s.len());
        let line = self.s[..pos].iter().filter(|&&b| b == b'\n').count() + 1;
        let column = chars(&self.s[self.line_start(pos)..pos]) + 1;
        (line, column)
    }

    /// Where a collection opened at `open` did, for a message about the current
    /// position: its column when on the same line, else its line.
    fn opened(&self, open: usize) -> String {
        let (line, column) = self.line_col(open);
        if line == self.line_col(self.pos).0 {
            format!("at column {column}")
        } else {
            format!("at line {line}")
        }
    }

    fn err(&self, expected: &str) -> EdnError {
        self.err_at(self.pos, expected)
    }

    fn err_at(&self, pos: usize, expected: &str) -> EdnError {
        let (line, column) = self.line_col(pos);
        EdnError {
            line,
            column,
            form_line: self.line_col(self.form_start).0,
            expected: expected.to_string(),
        }
    }

    /// Skips whitespace, commas (whitespace in EDN), `;` comments to the end of their
    /// line, and `#_` discarded forms.
    fn skip_ws(&mut self) -> Result<(), EdnError> {
        while let Some(&c) = self.s.get(self.pos) {
            if c.is_ascii_whitespace() || c == b',' {
                self.pos += 1;
            } else if c == b';' {
                while self.s.get(self.pos).is_some_and(|&c| c != b'\n') {
                    self.pos += 1;
                }
            } else if c == b'#' && self.s.get(self.pos + 1) == Some(&b'_') {
                if self.depth == 0 {
                    self.form_start = self.pos;
                }
                self.pos += 2;
                self.value()
                    .map_err(|e| self.at_least(e, "a form to discard after `#_`"))?;
            } else {
                break;
            }
        }
        Ok(())
    }

    /// `e`, but saying `what` if it only said a value was missing at the end.
    fn at_least(&self, mut e: EdnError, what: &str) -> EdnError {
        if self.pos >= self.s.len() && e.expected == "a value" {
            e.expected = what.to_string();
        }
        e
    }

    fn value(&mut self) -> Result<Edn, EdnError> {
        self.skip_ws()?;
        let start = self.pos;
        let Some(&c) = self.s.get(self.pos) else {
            return Err(self.err("a value"));
        };
        match c {
            b'{' => {
                self.pos += 1;
                let items = self.seq(b'}', start, "map")?;
                if items.len() % 2 != 0 {
                    return Err(self.err_at(
                        start,
                        &format!(
                            "an even number of forms in this map (keys and values in pairs), \
                             found {}",
                            items.len()
                        ),
                    ));
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
                Ok(Edn::Vector(self.seq(b']', start, "vector")?))
            }
            b'(' => {
                self.pos += 1;
                Ok(Edn::Vector(self.seq(b')', start, "list")?))
            }
            b'#' => self.dispatch(start),
            b'"' => self.string(),
            b':' => {
                self.pos += 1;
                let t = self.token();
                if t.is_empty() {
                    return Err(self.err("a keyword name after `:`"));
                }
                Ok(Edn::Keyword(t))
            }
            b'\\' => {
                // A character literal (`\a`, `\newline`, `\(`): its first character may
                // be a delimiter.
                self.pos += 1;
                let Some(ch) = self.text.get(self.pos..).and_then(|s| s.chars().next()) else {
                    return Err(self.err("a character after `\\`"));
                };
                self.pos += ch.len_utf8();
                let rest = self.token();
                Ok(Edn::Symbol(format!("\\{ch}{rest}")))
            }
            b'}' | b']' | b')' => Err(self.err(&format!(
                "a value, not the closing `{}` (no `{}` is open here)",
                c as char,
                match c {
                    b'}' => '{',
                    b']' => '[',
                    _ => '(',
                }
            ))),
            _ => {
                let t = self.token();
                if t.is_empty() {
                    self.pos = start;
                    return Err(self.err("a value"));
                }
                Ok(match t.as_str() {
                    "nil" => Edn::Nil,
                    "true" => Edn::Bool(true),
                    "false" => Edn::Bool(false),
                    _ if starts_number(&t) => match number(&t) {
                        Some(n) => n,
                        None => {
                            self.pos = start;
                            return Err(self.err(
                                "a number (an integer such as 42, or a float or ratio such as \
                                 1.5e9 or 1/2)",
                            ));
                        }
                    },
                    _ => Edn::Symbol(t),
                })
            }
        }
    }

    /// What follows a `#`: a set, a symbolic value (`##Inf`), or a tagged form whose tag
    /// is dropped.
    fn dispatch(&mut self, start: usize) -> Result<Edn, EdnError> {
        self.pos += 1;
        match self.s.get(self.pos) {
            Some(b'{') => {
                self.pos += 1;
                Ok(Edn::Set(self.seq(b'}', start, "set")?))
            }
            Some(b'#') => {
                self.pos += 1;
                let t = self.token();
                if t.is_empty() {
                    return Err(self.err("a symbolic value after `##` (Inf, -Inf or NaN)"));
                }
                Ok(Edn::Number(format!("##{t}")))
            }
            // Clojure's regex literal: not EDN, but `pr` prints one.
            Some(b'"') => self.string(),
            _ => {
                let tag = self.token();
                if tag.is_empty() {
                    return Err(self.err(
                        "`{` (a set), `_` (a discard) or a tag name such as \
                         jepsen.history.Op after `#`",
                    ));
                }
                // A tagged literal: what a reader without the tag's handler can do is
                // read the form it tags. Jepsen prints every operation this way
                // (`#jepsen.history.Op{...}`), and timestamps as `#inst "..."`.
                self.value()
                    .map_err(|e| self.at_least(e, &format!("a form after the tag #{tag}")))
            }
        }
    }

    fn token(&mut self) -> String {
        let start = self.pos;
        while self.s.get(self.pos).is_some_and(|&c| !is_delimiter(c)) {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
    }

    fn seq(&mut self, close: u8, open: usize, what: &str) -> Result<Vec<Edn>, EdnError> {
        self.depth += 1;
        let mut items = Vec::new();
        loop {
            self.skip_ws()?;
            match self.s.get(self.pos) {
                None => {
                    return Err(self.err(&format!(
                        "`{}` to close the {what} opened {}",
                        close as char,
                        self.opened(open)
                    )));
                }
                Some(&c) if c == close => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(items);
                }
                Some(&c) if b"}])".contains(&c) => {
                    return Err(self.err(&format!(
                        "`{}` to close the {what} opened {}, not `{}`",
                        close as char,
                        self.opened(open),
                        c as char
                    )));
                }
                Some(_) => items.push(self.value()?),
            }
        }
    }

    fn string(&mut self) -> Result<Edn, EdnError> {
        let open = self.pos;
        self.pos += 1; // opening quote
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Err(self.err(&format!(
                    "a closing `\"` for the string opened {}",
                    self.opened(open)
                )));
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        return Err(self.err("an escaped character after `\\`"));
                    };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let hex = self.s.get(self.pos..self.pos + 4);
                            let ch = hex
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .and_then(char::from_u32);
                            let Some(ch) = ch else {
                                return Err(self.err("four hex digits after `\\u`"));
                            };
                            self.pos += 4;
                            let mut buf = [0; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        other => out.push(other),
                    }
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

/// Whether token `t` is meant as a number: a digit, or a sign and a digit.
fn starts_number(t: &str) -> bool {
    let b = t.as_bytes();
    b[0].is_ascii_digit()
        || ((b[0] == b'-' || b[0] == b'+') && b.get(1).is_some_and(u8::is_ascii_digit))
}

/// An integer, or any other EDN/Clojure number kept as written: floats (`1.5`, `1e9`,
/// `2.5M`), ratios (`1/2`), big integers (`12N`, or too large for 64 bits), hex (`0x1F`)
/// and radix (`2r101`) integers. `None`: not a number (`12x`).
fn number(t: &str) -> Option<Edn> {
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    let all = |s: &str, f: fn(&u8) -> bool| !s.is_empty() && s.as_bytes().iter().all(f);
    let dec = |s: &str| all(s, u8::is_ascii_digit);
    let int_part = digits.strip_suffix('N').unwrap_or(digits);
    if dec(int_part) {
        let text = if t.starts_with('-') {
            format!("-{int_part}")
        } else {
            int_part.to_string()
        };
        return Some(match text.parse::<i64>() {
            Ok(i) => Edn::Int(i),
            Err(_) => Edn::Number(t.to_string()),
        });
    }
    let float = |s: &str| {
        let s = s.strip_suffix('M').unwrap_or(s);
        let (mantissa, exp) = match s.split_once(['e', 'E']) {
            Some((m, e)) => (m, Some(e.strip_prefix(['-', '+']).unwrap_or(e))),
            None => (s, None),
        };
        let mantissa_ok = match mantissa.split_once('.') {
            Some((i, f)) => dec(i) && (f.is_empty() || dec(f)),
            None => dec(mantissa),
        };
        mantissa_ok && exp.is_none_or(dec)
    };
    let ratio = |s: &str| s.split_once('/').is_some_and(|(n, d)| dec(n) && dec(d));
    let hex = |s: &str| {
        s.strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .is_some_and(|h| all(h, u8::is_ascii_hexdigit))
    };
    let radix = |s: &str| {
        s.split_once(['r', 'R'])
            .is_some_and(|(b, n)| dec(b) && all(n, u8::is_ascii_alphanumeric))
    };
    (float(digits) || ratio(digits) || hex(digits) || radix(digits))
        .then(|| Edn::Number(t.to_string()))
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
        Edn::Number(n) => out.push_str(n),
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
    fn reads_what_jepsen_prints() {
        let v = parse(
            "#jepsen.history.Op{:index 0, :time 1.5e9, :type :info, :process :nemesis, \
             :f :start, :value #inst \"2024-01-01T00:00:00Z\", :ratio 1/2, :big 12N, \
             :huge 123456789012345678901234567890, :obj #object[java.lang.Exception 0x1f \"x\"], \
             :inf ##Inf, :c \\a, :s \"\\u00e9\", :re #\"a+\"}",
        )
        .unwrap();
        assert_eq!(v.get("index"), Some(&Edn::Int(0)));
        assert_eq!(v.get("time"), Some(&Edn::Number("1.5e9".into())));
        assert_eq!(
            v.get("value"),
            Some(&Edn::Str("2024-01-01T00:00:00Z".into()))
        );
        assert_eq!(v.get("ratio"), Some(&Edn::Number("1/2".into())));
        assert_eq!(v.get("big"), Some(&Edn::Int(12)));
        assert_eq!(
            v.get("huge"),
            Some(&Edn::Number("123456789012345678901234567890".into()))
        );
        assert!(matches!(v.get("obj"), Some(Edn::Vector(items)) if items.len() == 3));
        assert_eq!(v.get("inf"), Some(&Edn::Number("##Inf".into())));
        assert_eq!(v.get("c"), Some(&Edn::Symbol("\\a".into())));
        assert_eq!(v.get("s"), Some(&Edn::Str("é".into())));
        assert_eq!(v.get("re"), Some(&Edn::Str("a+".into())));
    }

    #[test]
    fn comments_discards_and_commas_are_whitespace() {
        let v = parse(
            "; a comment\n{:a 1, ; another\n :b #_ :ignored [2,, 3,],\n #_#_ :c 4 :d nil,}\n",
        )
        .unwrap();
        assert_eq!(
            v,
            Edn::Map(vec![
                (Edn::Keyword("a".into()), Edn::Int(1)),
                (
                    Edn::Keyword("b".into()),
                    Edn::Vector(vec![Edn::Int(2), Edn::Int(3)])
                ),
                (Edn::Keyword("d".into()), Edn::Nil),
            ])
        );
    }

    #[test]
    fn forms_say_where_each_starts() {
        let text = "{:a 1} {:b 2}\n; c\n  {:c\n 3}\n";
        let got: Vec<(usize, usize)> = forms(text)
            .map(|f| f.map(|f| (f.line, f.column)).unwrap())
            .collect();
        assert_eq!(got, vec![(1, 1), (1, 8), (3, 3)]);
        // A vector of maps yields the maps when unwrapped, and itself otherwise.
        let text = "[{:a 1}\n {:b 2}\n]\n{:c 3}";
        let lines: Vec<usize> = items(text).map(|f| f.unwrap().line).collect();
        assert_eq!(lines, vec![1, 2, 4]);
        assert_eq!(forms(text).count(), 2);
    }

    #[test]
    fn errors_say_where_and_what() {
        let e = parse("{:a 1").unwrap_err();
        assert_eq!(e.expected, "`}` to close the map opened at column 1");
        let e = parse("{:a}").unwrap_err();
        assert!(e.expected.contains("even number"));
        let e = parse("\"abc").unwrap_err();
        assert!(e.expected.contains("closing"));
        let e = parse("12x").unwrap_err();
        assert_eq!((e.column, e.expected.starts_with("a number")), (1, true));
        assert!(parse("1 2").is_err());
        let e = parse("#_").unwrap_err();
        assert_eq!(e.expected, "a form to discard after `#_`");
        let e = parse("[1 2}").unwrap_err();
        assert!(e.expected.contains("not `}`"), "{e:?}");
        // A map over several lines that never closes: reported where it opened, and
        // where reading stopped.
        let text = "{:a 1}\n\n{:b 2,\n :c [3\n";
        let errs: Vec<EdnError> = forms(text).filter_map(Result::err).collect();
        assert_eq!(
            (errs[0].form_line, errs[0].line, errs[0].expected.as_str()),
            (3, 5, "`]` to close the vector opened at line 4")
        );
        let e = items("[{:a 1}\n").find_map(Result::err).unwrap();
        assert_eq!(
            (e.form_line, e.expected.as_str()),
            (1, "`]` to close the vector opened at line 1")
        );
    }
}
