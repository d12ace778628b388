//! Reading a bot's reply as Python reads it: `json.loads(body_bytes)`
//! (`Lib/json/__init__.py` and `Lib/json/decoder.py`, CPython 3.11), since
//! students write bots in Python and test them with Python clients.
//!
//! - The encoding is detected as `json.detect_encoding` does: UTF-8 (a
//!   leading BOM is skipped), UTF-16 and UTF-32 with or without a BOM.
//! - `NaN`, `Infinity` and `-Infinity` are numbers (Flask's `jsonify`
//!   writes them for float nan and inf).
//! - Integers keep every digit (up to Python's 4,300-digit limit); numbers
//!   with a fraction or exponent are floats (`1e400` is infinity).
//! - A lone surrogate escape (`"\ud83d"`), which Python keeps in its str,
//!   becomes U+FFFD: NeCSuS stores UTF-8.
//! - Duplicate keys: the last value wins, in the first key's place.
//!
//! `PyValue::to_python_json` writes a value back so that Python reads the
//! same value (what a bot gets back as `state`); `to_strict_json` writes
//! standard JSON for browsers and the API (non-finite numbers become null).

/// A JSON value as Python holds it after `json.loads`.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    Null,
    Bool(bool),
    /// An int, as its decimal digits (with a leading `-` when negative).
    Int(String),
    Float(f64),
    Str(String),
    List(Vec<PyValue>),
    /// A dict, keys in insertion order.
    Dict(Vec<(String, PyValue)>),
}

/// Why Python's `json.loads` would refuse the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError(pub String);

/// Python's `int()` refuses longer digit strings by default
/// (`sys.get_int_max_str_digits()`).
const MAX_INT_DIGITS: usize = 4300;

impl PyValue {
    /// Python's name for the value's type (`int`, `float`, `str`, `list`,
    /// `dict`, `bool`, `NoneType`).
    pub fn type_name(&self) -> &'static str {
        match self {
            PyValue::Null => "NoneType",
            PyValue::Bool(_) => "bool",
            PyValue::Int(_) => "int",
            PyValue::Float(_) => "float",
            PyValue::Str(_) => "str",
            PyValue::List(_) => "list",
            PyValue::Dict(_) => "dict",
        }
    }

    /// JSON that Python's `json.loads` reads back as this same value
    /// (`NaN` and `Infinity` included).
    pub fn to_python_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, true);
        out
    }

    /// Standard JSON: the same, with non-finite floats as `null`.
    pub fn to_strict_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, false);
        out
    }

    /// Whether the value holds a NaN or an infinity anywhere.
    pub fn has_non_finite(&self) -> bool {
        match self {
            PyValue::Float(f) => !f.is_finite(),
            PyValue::List(items) => items.iter().any(PyValue::has_non_finite),
            PyValue::Dict(items) => items.iter().any(|(_, v)| v.has_non_finite()),
            _ => false,
        }
    }

    fn write(&self, out: &mut String, python: bool) {
        match self {
            PyValue::Null => out.push_str("null"),
            PyValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            PyValue::Int(digits) => out.push_str(digits),
            PyValue::Float(f) if f.is_nan() => out.push_str(if python { "NaN" } else { "null" }),
            PyValue::Float(f) if f.is_infinite() => out.push_str(match (python, *f > 0.0) {
                (false, _) => "null",
                (true, true) => "Infinity",
                (true, false) => "-Infinity",
            }),
            // serde_json writes the shortest text that reads back as the
            // same float, always with a `.` or an exponent, so Python
            // reads a float (never an int).
            PyValue::Float(f) => out.push_str(&serde_json::to_string(f).unwrap_or_default()),
            PyValue::Str(s) => write_str(out, s),
            PyValue::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out, python);
                }
                out.push(']');
            }
            PyValue::Dict(items) => {
                out.push('{');
                for (i, (k, v)) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, k);
                    out.push(':');
                    v.write(out, python);
                }
                out.push('}');
            }
        }
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned()));
}

/// The text encoding `json.detect_encoding` picks for `b`.
fn detect_encoding(b: &[u8]) -> &'static str {
    if b.starts_with(&[0, 0, 0xFE, 0xFF]) || b.starts_with(&[0xFF, 0xFE, 0, 0]) {
        return "utf-32";
    }
    if b.starts_with(&[0xFE, 0xFF]) || b.starts_with(&[0xFF, 0xFE]) {
        return "utf-16";
    }
    if b.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return "utf-8-sig";
    }
    if b.len() >= 4 {
        if b[0] == 0 {
            return if b[1] != 0 { "utf-16-be" } else { "utf-32-be" };
        }
        if b[1] == 0 {
            return if b[2] != 0 || b[3] != 0 {
                "utf-16-le"
            } else {
                "utf-32-le"
            };
        }
    } else if b.len() == 2 {
        if b[0] == 0 {
            return "utf-16-be";
        }
        if b[1] == 0 {
            return "utf-16-le";
        }
    }
    "utf-8"
}

/// Decodes `body` to text as Python's `bytes.decode(encoding,
/// 'surrogatepass')` would, except that lone surrogates become U+FFFD.
fn decode(body: &[u8]) -> Result<String, JsonError> {
    let bad = |enc: &str| JsonError(format!("the body is not valid {enc} text"));
    let units16 = |b: &[u8], big: bool| -> Result<String, JsonError> {
        if !b.len().is_multiple_of(2) {
            return Err(bad("UTF-16"));
        }
        let units = b.chunks_exact(2).map(|c| {
            if big {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        });
        Ok(char::decode_utf16(units)
            .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect())
    };
    let units32 = |b: &[u8], big: bool| -> Result<String, JsonError> {
        if !b.len().is_multiple_of(4) {
            return Err(bad("UTF-32"));
        }
        b.chunks_exact(4)
            .map(|c| {
                let v = if big {
                    u32::from_be_bytes([c[0], c[1], c[2], c[3]])
                } else {
                    u32::from_le_bytes([c[0], c[1], c[2], c[3]])
                };
                match v {
                    0xD800..=0xDFFF => Ok(char::REPLACEMENT_CHARACTER),
                    _ => char::from_u32(v).ok_or_else(|| bad("UTF-32")),
                }
            })
            .collect()
    };
    match detect_encoding(body) {
        "utf-32" if body.starts_with(&[0xFF, 0xFE, 0, 0]) => units32(&body[4..], false),
        "utf-32" => units32(&body[4..], true),
        "utf-16" if body.starts_with(&[0xFF, 0xFE]) => units16(&body[2..], false),
        "utf-16" => units16(&body[2..], true),
        "utf-16-be" => units16(body, true),
        "utf-16-le" => units16(body, false),
        "utf-32-be" => units32(body, true),
        "utf-32-le" => units32(body, false),
        "utf-8-sig" => std::str::from_utf8(&body[3..])
            .map(str::to_owned)
            .map_err(|_| bad("UTF-8")),
        _ => std::str::from_utf8(body)
            .map(str::to_owned)
            .map_err(|_| bad("UTF-8")),
    }
}

/// `json.loads(body)`.
pub fn loads(body: &[u8]) -> Result<PyValue, JsonError> {
    let text = decode(body)?;
    let mut p = Parser {
        s: text.as_bytes(),
        text: &text,
        pos: 0,
    };
    p.skip_ws();
    let value = p.value(0)?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(p.error("Extra data"));
    }
    Ok(value)
}

/// Deeper nesting than this is refused (Python's own limit is its
/// recursion limit, about 1,000).
const MAX_DEPTH: usize = 512;

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> JsonError {
        // Python counts characters, not bytes.
        let before = &self.text[..self.pos];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        JsonError(format!(
            "{what}: line {line} column {col} (char {})",
            before.chars().count()
        ))
    }

    fn skip_ws(&mut self) {
        while self
            .s
            .get(self.pos)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.pos += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.pos..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<PyValue, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("Nested too deeply"));
        }
        let Some(&b) = self.s.get(self.pos) else {
            return Err(self.error("Expecting value"));
        };
        match b {
            b'"' => Ok(PyValue::Str(self.string()?)),
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'n' if self.eat("null") => Ok(PyValue::Null),
            b't' if self.eat("true") => Ok(PyValue::Bool(true)),
            b'f' if self.eat("false") => Ok(PyValue::Bool(false)),
            b'N' if self.eat("NaN") => Ok(PyValue::Float(f64::NAN)),
            b'I' if self.eat("Infinity") => Ok(PyValue::Float(f64::INFINITY)),
            b'-' if self.eat("-Infinity") => Ok(PyValue::Float(f64::NEG_INFINITY)),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(self.error("Expecting value")),
        }
    }

    fn number(&mut self) -> Result<PyValue, JsonError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while p.s.get(p.pos).is_some_and(u8::is_ascii_digit) {
                p.pos += 1;
            }
            p.pos - from
        };
        self.eat("-");
        match self.s.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => {
                self.pos = start;
                return Err(self.error("Expecting value"));
            }
        }
        let int_end = self.pos;
        let mut float = false;
        if self.s.get(self.pos) == Some(&b'.')
            && self.s.get(self.pos + 1).is_some_and(u8::is_ascii_digit)
        {
            self.pos += 1;
            digits(self);
            float = true;
        }
        if matches!(self.s.get(self.pos), Some(b'e' | b'E')) {
            let save = self.pos;
            self.pos += 1;
            if matches!(self.s.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                self.pos = save;
            } else {
                float = true;
            }
        }
        let text = &self.text[start..self.pos];
        if float {
            // Rust and Python both round correctly; out of range is inf.
            return Ok(PyValue::Float(text.parse().unwrap_or(f64::NAN)));
        }
        let text = &self.text[start..int_end];
        let magnitude = text.trim_start_matches('-');
        if magnitude.len() > MAX_INT_DIGITS {
            return Err(JsonError(format!(
                "Exceeds the limit ({MAX_INT_DIGITS} digits) for integer string conversion"
            )));
        }
        Ok(PyValue::Int(if magnitude == "0" {
            "0".to_owned()
        } else {
            text.to_owned()
        }))
    }

    fn hex4(&mut self) -> Result<u16, JsonError> {
        let h = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u16::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.error("Invalid \\uXXXX escape"))?;
        self.pos += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        let begin = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while self
                .s
                .get(self.pos)
                .is_some_and(|&b| b != b'"' && b != b'\\' && b >= 0x20)
            {
                self.pos += 1;
            }
            out.push_str(&self.text[run_start..self.pos]);
            match self.s.get(self.pos) {
                None => {
                    self.pos = begin;
                    return Err(self.error("Unterminated string starting at"));
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let Some(&e) = self.s.get(self.pos) else {
                        self.pos = begin;
                        return Err(self.error("Unterminated string starting at"));
                    };
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let unit = self.hex4()?;
                            let c = match unit {
                                0xD800..=0xDBFF if self.s[self.pos..].starts_with(b"\\u") => {
                                    let save = self.pos;
                                    self.pos += 2;
                                    let low = self.hex4()?;
                                    if (0xDC00..=0xDFFF).contains(&low) {
                                        let c = 0x10000
                                            + ((u32::from(unit) - 0xD800) << 10)
                                            + (u32::from(low) - 0xDC00);
                                        char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER)
                                    } else {
                                        // A high surrogate alone; the next
                                        // escape is read on its own.
                                        self.pos = save;
                                        char::REPLACEMENT_CHARACTER
                                    }
                                }
                                _ => char::from_u32(unit.into())
                                    .unwrap_or(char::REPLACEMENT_CHARACTER),
                            };
                            out.push(c);
                        }
                        _ => {
                            self.pos -= 2;
                            return Err(self.error("Invalid \\escape"));
                        }
                    }
                }
                Some(_) => return Err(self.error("Invalid control character at")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<PyValue, JsonError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.eat("]") {
            return Ok(PyValue::List(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            if self.eat("]") {
                return Ok(PyValue::List(items));
            }
            if !self.eat(",") {
                return Err(self.error("Expecting ',' delimiter"));
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<PyValue, JsonError> {
        self.pos += 1;
        let mut items: Vec<(String, PyValue)> = Vec::new();
        self.skip_ws();
        if self.eat("}") {
            return Ok(PyValue::Dict(items));
        }
        loop {
            self.skip_ws();
            if self.s.get(self.pos) != Some(&b'"') {
                return Err(self.error("Expecting property name enclosed in double quotes"));
            }
            let key = self.string()?;
            self.skip_ws();
            if !self.eat(":") {
                return Err(self.error("Expecting ':' delimiter"));
            }
            self.skip_ws();
            let value = self.value(depth + 1)?;
            match items.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => items.push((key, value)),
            }
            self.skip_ws();
            if self.eat("}") {
                return Ok(PyValue::Dict(items));
            }
            if !self.eat(",") {
                return Err(self.error("Expecting ',' delimiter"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_extensions_and_encodings() {
        let v = loads(b"{\"n\": 123456789012345678901234567890, \"x\": NaN, \"i\": -Infinity}")
            .unwrap();
        assert_eq!(
            v.to_python_json(),
            r#"{"n":123456789012345678901234567890,"x":NaN,"i":-Infinity}"#
        );
        assert_eq!(
            v.to_strict_json(),
            r#"{"n":123456789012345678901234567890,"x":null,"i":null}"#
        );
        let bom = loads(b"\xEF\xBB\xBF{\"text\": \"hi\"}").unwrap();
        assert_eq!(
            bom,
            PyValue::Dict(vec![("text".into(), PyValue::Str("hi".into()))])
        );
        let utf16: Vec<u8> = "[\"é\"]"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(
            loads(&utf16).unwrap(),
            PyValue::List(vec![PyValue::Str("é".into())])
        );
        assert_eq!(
            loads(br#""a\ud83db""#).unwrap(),
            PyValue::Str("a\u{FFFD}b".into())
        );
        assert_eq!(loads(b"1.0").unwrap().to_python_json(), "1.0");
        assert_eq!(loads(b"1e400").unwrap(), PyValue::Float(f64::INFINITY));
        assert_eq!(loads(b"-0").unwrap(), PyValue::Int("0".into()));
        assert!(loads(b"").is_err());
        assert!(loads(b"01").is_err());
        assert!(loads(b"{\"a\": 1,}").is_err());
        assert!(loads(b"\"tab\there\"").is_err());
        // Positions count characters, as Python's do.
        assert_eq!(
            loads("[\"é\" x]".as_bytes()).unwrap_err().0,
            "Expecting ',' delimiter: line 1 column 6 (char 5)"
        );
    }
}
