//! A small JSON reader and string writer for container headers (safetensors, ZipNN's
//! metadata). Values go straight into the caller's fields as they are met, never into a
//! tree: a `serde_json::Value` tree of a hostile 10 MB header took 400 MB. It accepts what
//! serde_json accepts and writes strings as serde_json does (the tests below compare them).

use alloc::string::String;
use alloc::vec::Vec;

/// The input is not JSON (or not the JSON a caller expects): callers say which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bad;

/// Deepest nesting read, as serde_json's recursion limit.
const MAX_DEPTH: u32 = 128;

pub struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
    depth: u32,
}

impl<'a> Reader<'a> {
    pub fn new(s: &'a [u8]) -> Self {
        Reader {
            s,
            pos: 0,
            depth: 0,
        }
    }

    /// The next byte after whitespace, not taken.
    pub fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.pos) {
            self.pos += 1;
        }
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> Result<(), Bad> {
        if self.peek() != Some(b) {
            return Err(Bad);
        }
        self.pos += 1;
        Ok(())
    }

    /// Only whitespace is left.
    pub fn end(&mut self) -> Result<(), Bad> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(Bad),
        }
    }

    fn nest(&mut self) -> Result<(), Bad> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            return Err(Bad);
        }
        Ok(())
    }

    /// An object: `member` is called with each key and reads (or skips) its value.
    pub fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, String) -> Result<(), Bad>,
    ) -> Result<(), Bad> {
        self.nest()?;
        self.eat(b'{')?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                if self.peek() != Some(b'"') {
                    return Err(Bad);
                }
                let key = self.string()?;
                self.eat(b':')?;
                member(self, key)?;
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(Bad),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// An object read into a `T` by `member` (each key with its value), or `None` (read and
    /// dropped) for any other value: a header's entries, whose wrong types callers report.
    pub fn object_or_skip<T: Default>(
        &mut self,
        mut member: impl FnMut(&mut Self, String, &mut T) -> Result<(), Bad>,
    ) -> Result<Option<T>, Bad> {
        if self.peek() != Some(b'{') {
            return self.skip().map(|_| None);
        }
        let mut t = T::default();
        self.object(|r, key| member(r, key, &mut t))?;
        Ok(Some(t))
    }

    /// An array: `item` is called for each element and reads (or skips) it.
    pub fn array(&mut self, mut item: impl FnMut(&mut Self) -> Result<(), Bad>) -> Result<(), Bad> {
        self.nest()?;
        self.eat(b'[')?;
        if self.peek() == Some(b']') {
            self.pos += 1;
        } else {
            loop {
                item(self)?;
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b']') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(Bad),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// A string value (UTF-8, escapes resolved).
    pub fn string(&mut self) -> Result<String, Bad> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            let start = self.pos;
            while let Some(&b) = self.s.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.extend_from_slice(&self.s[start..self.pos]);
            match self.s.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(out).map_err(|_| Bad);
                }
                Some(b'\\') => {
                    let escape = *self.s.get(self.pos + 1).ok_or(Bad)?;
                    self.pos += 2;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.escaped_char()?,
                        _ => return Err(Bad),
                    };
                    let mut utf8 = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
                // A control character, or the end of the input.
                _ => return Err(Bad),
            }
        }
    }

    /// After `\u`: one code point (a surrogate pair in two escapes).
    fn escaped_char(&mut self) -> Result<char, Bad> {
        let hi = self.hex4(self.pos)?;
        self.pos += 4;
        let code = match hi {
            0xD800..=0xDBFF => {
                if self.s.get(self.pos..self.pos + 2) != Some(b"\\u") {
                    return Err(Bad);
                }
                let lo = self.hex4(self.pos + 2)?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return Err(Bad);
                }
                self.pos += 6;
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(Bad),
            c => c,
        };
        char::from_u32(code).ok_or(Bad)
    }

    fn hex4(&self, at: usize) -> Result<u32, Bad> {
        let digits = self.s.get(at..at + 4).ok_or(Bad)?;
        digits.iter().try_fold(0u32, |v, &d| {
            let x = (d as char).to_digit(16).ok_or(Bad)?;
            Ok(v << 4 | x)
        })
    }

    /// A number: `Some` for a non-negative integer that fits a u64 (what serde_json's
    /// `as_u64` gives), `None` for any other valid number. One beyond f64's range (`1e400`)
    /// is an error, as in serde_json (which may differ on the last digits next to f64::MAX).
    pub fn number(&mut self) -> Result<Option<u64>, Bad> {
        self.peek();
        let s = self.s;
        let negative = s.get(self.pos) == Some(&b'-');
        if negative {
            self.pos += 1;
        }
        let digits = |pos: &mut usize| {
            let from = *pos;
            while s.get(*pos).is_some_and(u8::is_ascii_digit) {
                *pos += 1;
            }
            from..*pos
        };
        let int = digits(&mut self.pos);
        if int.is_empty() || (int.len() > 1 && s[int.start] == b'0') {
            return Err(Bad);
        }
        let mut frac = self.pos..self.pos;
        if s.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            frac = digits(&mut self.pos);
            if frac.is_empty() {
                return Err(Bad);
            }
        }
        let mut exp = None;
        if let Some(b'e' | b'E') = s.get(self.pos) {
            self.pos += 1;
            let minus = s.get(self.pos) == Some(&b'-');
            if let Some(b'+' | b'-') = s.get(self.pos) {
                self.pos += 1;
            }
            let e = digits(&mut self.pos);
            if e.is_empty() {
                return Err(Bad);
            }
            let e = s[e].iter().fold(0i64, |v, &d| {
                v.saturating_mul(10).saturating_add(i64::from(d - b'0'))
            });
            exp = Some(if minus { -e } else { e });
        }
        // serde_json reads -0 as the float -0.0, other negatives as i64: none is a u64.
        if !negative && frac.is_empty() && exp.is_none() {
            let n = s[int.clone()].iter().try_fold(0u64, |v, &d| {
                v.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            });
            if n.is_some() {
                return Ok(n);
            }
        }
        // An f64 there: out of range, an error. Its significant digits (from the first that is
        // not 0) and the power of ten of the first.
        let all = s[int.clone()].iter().chain(&s[frac.clone()]);
        let Some(lead) = all.clone().position(|&d| d != b'0') else {
            return Ok(None); // zero
        };
        let order = (int.len() as i64 - 1 - lead as i64).saturating_add(exp.unwrap_or(0));
        const MAX: &[u8] = b"17976931348623158"; // f64::MAX rounds up to infinity past this
        let beyond =
            order > 308 || (order == 308 && all.skip(lead).take(MAX.len()).cmp(MAX.iter()).is_ge());
        if beyond {
            Err(Bad)
        } else {
            Ok(None)
        }
    }

    /// Any value, read and dropped.
    pub fn skip(&mut self) -> Result<(), Bad> {
        match self.peek().ok_or(Bad)? {
            b'{' => self.object(|r, _| r.skip()),
            b'[' => self.array(Self::skip),
            b'"' => self.string().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number().map(drop),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Bad> {
        if self.s.get(self.pos..self.pos + word.len()) != Some(word) {
            return Err(Bad);
        }
        self.pos += word.len();
        Ok(())
    }

    /// A string value, or `None` (read and dropped) for any other value.
    pub fn string_or_skip(&mut self) -> Result<Option<String>, Bad> {
        if self.peek() == Some(b'"') {
            self.string().map(Some)
        } else {
            self.skip().map(|_| None)
        }
    }

    /// An array of non-negative integers, or `None` (read and dropped) for any other value
    /// or an array holding anything else.
    pub fn u64_array_or_skip(&mut self) -> Result<Option<Vec<u64>>, Bad> {
        if self.peek() != Some(b'[') {
            return self.skip().map(|_| None);
        }
        let mut out = Some(Vec::new());
        self.array(|r| {
            let n = if matches!(r.peek(), Some(b'-' | b'0'..=b'9')) {
                r.number()?
            } else {
                r.skip()?;
                None
            };
            match (&mut out, n) {
                (Some(v), Some(n)) => v.push(n),
                _ => out = None,
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// `s` as a JSON string, quotes included, escaped as serde_json escapes it: `"`, `\` and
/// control characters only (`\b \f \n \r \t`, others `\u00XX`).
pub fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use serde_json::Value;

    /// The value as our reader sees it, numbers that are no u64 as null.
    fn ours(s: &[u8]) -> Result<Value, Bad> {
        fn value(r: &mut Reader) -> Result<Value, Bad> {
            Ok(match r.peek().ok_or(Bad)? {
                b'{' => {
                    let mut m = serde_json::Map::new();
                    r.object(|r, k| {
                        m.insert(k, value(r)?);
                        Ok(())
                    })?;
                    Value::Object(m)
                }
                b'[' => {
                    let mut a = Vec::new();
                    r.array(|r| {
                        a.push(value(r)?);
                        Ok(())
                    })?;
                    Value::Array(a)
                }
                b'"' => Value::String(r.string()?),
                b'-' | b'0'..=b'9' => r.number()?.map_or(Value::Null, Value::from),
                _ => {
                    r.skip()?;
                    Value::Null // true, false, null: skip checked them
                }
            })
        }
        let mut r = Reader::new(s);
        let v = value(&mut r)?;
        r.end()?;
        Ok(v)
    }

    /// serde_json's reading, in the same terms.
    fn theirs(s: &[u8]) -> Option<Value> {
        fn norm(v: Value) -> Value {
            match v {
                Value::Object(m) => {
                    Value::Object(m.into_iter().map(|(k, v)| (k, norm(v))).collect())
                }
                Value::Array(a) => Value::Array(a.into_iter().map(norm).collect()),
                Value::Number(n) => n.as_u64().map_or(Value::Null, Value::from),
                Value::Bool(_) => Value::Null,
                v => v,
            }
        }
        serde_json::from_slice::<Value>(s).ok().map(norm)
    }

    fn same(s: &[u8]) {
        assert_eq!(ours(s).ok(), theirs(s), "{:?}", String::from_utf8_lossy(s));
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let cases: &[&[u8]] = &[
            b"{}",
            b"[]",
            b" { } ",
            b"{\"a\":1}",
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"{a:1}",
            b"[1,]",
            b"[1 2]",
            b"{\"a\":1}x",
            b"{\"a\":1} \t\r\n",
            b"",
            b"  ",
            b"0",
            b"-0",
            b"01",
            b"-",
            b"1.",
            b".5",
            b"1e",
            b"1e+",
            b"1E-2",
            b"+1",
            b"18446744073709551615",
            b"18446744073709551616",
            b"-1",
            b"1.0",
            b"1e2",
            b"-9223372036854775809",
            b"true",
            b"tru",
            b"nul",
            b"null ",
            b"[true,false,null]",
            b"\"a\\u0041\"",
            b"\"\\ud83d\\ude00\"",
            b"\"\\ud83d\"",
            b"\"\\ud83dx\"",
            b"\"\\ud83d\\u0041\"",
            b"\"\\ude00\"",
            b"\"\\u00\"",
            b"\"\\uzzzz\"",
            b"\"\\x\"",
            b"\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"",
            b"\"a\nb\"",
            b"\"a\x7fb\"",
            b"\"\xff\"",
            b"\"\xc3\xa9\"",
            b"\"unterminated",
            b"{\"a\":{\"b\":[1,{\"c\":\"d\"}]}}",
            b"{\"a\":1,\"a\":2}",
            b"[\"\\u0000\"]",
            b"{\"\\u0061\":1}",
            b"1e400",
            b"-1e400",
            b"[1e309]",
            b"1e-400",
            b"0e999",
            b"1.5e308",
            b"1.8e308",
            b"-1.7976931348623157e308",
            b"0.00017976931348623157e312",
            b"-2.5E+300",
        ];
        same(format!("1{}", "0".repeat(400)).as_bytes());
        same(format!("0.{}1", "0".repeat(400)).as_bytes());
        for c in cases {
            same(c);
        }
        for depth in [120, 126, 127, 128, 129, 200] {
            same(format!("{}{}", "[".repeat(depth), "]".repeat(depth)).as_bytes());
            same(format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)).as_bytes());
        }
    }

    #[test]
    fn mutated_headers_read_as_serde_json_reads_them() {
        let base: &[u8] = br#"{"__metadata__":{"format":"pt","n":"1"},"a.weight":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[],"data_offsets":[12,16],"x":[1.5,-2,true,null,"\u00e9"]}}"#;
        const ALPHABET: &[u8] = b"{}[]\",:\\u0123456789abcdefnrtl.eE+- \n\x01\xc3\xa9";
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let (mut valid, mut invalid) = (0, 0);
        for _ in 0..20_000 {
            let mut s = base.to_vec();
            for _ in 0..1 + next(3) {
                let at = next(s.len());
                match next(3) {
                    0 => s[at] = ALPHABET[next(ALPHABET.len())],
                    1 => s.insert(at, ALPHABET[next(ALPHABET.len())]),
                    _ => drop(s.remove(at)),
                }
            }
            same(&s);
            if theirs(&s).is_some() {
                valid += 1;
            } else {
                invalid += 1;
            }
        }
        assert!(
            valid > 1000 && invalid > 1000,
            "{valid} valid, {invalid} invalid"
        );
    }

    #[test]
    fn numbers_near_and_past_f64s_range_as_serde_json() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..20_000 {
            let int: String = (0..1 + next(25))
                .map(|_| char::from(b'0' + next(10) as u8))
                .collect();
            let int = int.trim_start_matches('0');
            let int = if int.is_empty() { "0" } else { int };
            let frac: String = (0..next(4) * next(8))
                .map(|_| char::from(b'0' + next(10) as u8))
                .collect();
            let mut n = format!("{}{int}", if next(2) == 0 { "-" } else { "" });
            if !frac.is_empty() {
                n = format!("{n}.{frac}");
            }
            if next(3) > 0 {
                n = format!(
                    "{n}e{}{}",
                    ["", "+", "-"][next(3) as usize],
                    250 + next(120)
                );
            }
            same(n.as_bytes());
        }
    }

    #[test]
    fn quotes_strings_as_serde_json_does() {
        let mut all: String = (0u32..0x80).filter_map(char::from_u32).collect();
        all.push_str("é\u{2028}\u{fffd}😀/");
        for s in ["", "plain", "a\"b\\c", &all] {
            let mut q = String::new();
            push_quoted(&mut q, s);
            assert_eq!(q, serde_json::to_string(s).unwrap());
            assert_eq!(Reader::new(q.as_bytes()).string().unwrap(), s.to_string());
        }
    }
}
