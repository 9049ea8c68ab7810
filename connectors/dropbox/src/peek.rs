//! A quick scan of a `members/list` answer for its continuation (`cursor`
//! and `has_more`) without parsing the members: so the next page can be
//! requested while this one is parsed (read-ahead).
//!
//! Dropbox writes `cursor` and `has_more` after the members, so the scan
//! first looks for the last `"cursor"` and `"has_more"` keys from the end of
//! the body (a few bytes read). Failing that, it walks the top-level object
//! and skips every other value by its brackets and strings, reading each
//! byte once. Neither validates the JSON: the full parse that follows does.
//! A wrong answer costs at most one wasted request, since a read-ahead is
//! used only for the exact request the host asks for next.

/// `(cursor, has_more)` of a list page.
pub fn continuation(body: &[u8]) -> Option<(String, bool)> {
    from_the_end(body).or_else(|| walk(body))
}

/// The values after the last `"cursor"` and `"has_more"` keys. (A quote
/// inside a JSON string is escaped, so `"cursor"` followed by a colon is a
/// key; the last one is the top level's when it follows the members.)
fn from_the_end(body: &[u8]) -> Option<(String, bool)> {
    let value_after = |key: &[u8]| -> Option<Scanner<'_>> {
        let at = body.windows(key.len()).rposition(|w| w == key)?;
        let mut s = Scanner {
            b: body,
            i: at + key.len(),
        };
        s.ws();
        s.eat(b':')?;
        s.ws();
        Some(s)
    };
    let mut c = value_after(b"\"cursor\"")?;
    let start = c.i;
    c.string_span()?;
    let cursor = serde_json::from_slice::<String>(&body[start..c.i]).ok()?;
    let has_more = value_after(b"\"has_more\"")?.boolean()?;
    Some((cursor, has_more))
}

/// `(cursor, has_more)`, if both are found at the top level, walking it.
fn walk(body: &[u8]) -> Option<(String, bool)> {
    let mut s = Scanner { b: body, i: 0 };
    s.ws();
    s.eat(b'{')?;
    let (mut cursor, mut has_more) = (None, None);
    loop {
        s.ws();
        match s.peek()? {
            b'}' => break,
            b',' => {
                s.i += 1;
                continue;
            }
            _ => {}
        }
        let key = s.string_span()?;
        s.ws();
        s.eat(b':')?;
        s.ws();
        match key {
            b"cursor" => {
                let start = s.i;
                s.string_span()?;
                cursor = Some(serde_json::from_slice::<String>(&s.b[start..s.i]).ok()?);
            }
            b"has_more" => has_more = Some(s.boolean()?),
            _ => s.skip_value()?,
        }
        if let (Some(c), Some(m)) = (&cursor, has_more) {
            return Some((c.clone(), m));
        }
    }
    Some((cursor?, has_more?))
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }

    /// A string's raw contents (escapes left as they are), after its
    /// closing quote.
    fn string_span(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(&self.b[start..self.i - 1]);
                }
                b'\\' => self.i += 2,
                _ => self.i += 1,
            }
        }
    }

    fn boolean(&mut self) -> Option<bool> {
        let rest = &self.b[self.i..];
        if rest.starts_with(b"true") {
            self.i += 4;
            Some(true)
        } else if rest.starts_with(b"false") {
            self.i += 5;
            Some(false)
        } else {
            None
        }
    }

    /// Skips one value: a string, a nested object or array (by depth,
    /// minding strings), or a scalar up to the next delimiter.
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string_span().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string_span()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while !matches!(self.peek()?, b',' | b'}' | b']') {
                    self.i += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_continuation_wherever_it_is() {
        let page =
            br#" { "members" : [ {"profile": {"email": "a\"cursor\":\"x", "n": [1, {"}": "]"}]}} ],
            "cursor": "AAA\u002fB", "has_more": true } "#;
        assert_eq!(continuation(page), Some(("AAA/B".to_owned(), true)));
        let first = br#"{"has_more":false,"cursor":"C","members":[]}"#;
        assert_eq!(continuation(first), Some(("C".to_owned(), false)));
        let scalars = br#"{"n":12.5e3,"x":null,"cursor":"C","has_more":true}"#;
        assert_eq!(continuation(scalars), Some(("C".to_owned(), true)));
    }

    #[test]
    fn the_walk_finds_what_the_end_hides() {
        // A member with a `cursor` key after the top-level one: the quick
        // look from the end is fooled, the walk is not.
        let page =
            br#"{"cursor":"TOP","has_more":true,"members":[{"cursor":"x","has_more":false}]}"#;
        assert_eq!(from_the_end(page), Some(("x".to_owned(), false)));
        assert_eq!(walk(page), Some(("TOP".to_owned(), true)));
    }

    #[test]
    fn gives_up_on_anything_else() {
        for body in [
            &b""[..],
            b"[]",
            b"{\"members\":[",
            b"{\"cursor\":\"C\"}",
            b"{\"cursor\":7,\"has_more\":true}",
            b"{\"has_more\":\"yes\",\"cursor\":\"C\"}",
            b"{\"cursor\":\"unterminated",
            b"{\"members\":[]]]]]]]}",
        ] {
            assert_eq!(
                continuation(body),
                None,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
