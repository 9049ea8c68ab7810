//! `application/x-www-form-urlencoded` decoding, strict: a malformed percent
//! escape or a value that is not UTF-8 after decoding is an error rather
//! than passed through, so client encoding bugs surface.

/// The `(name, value)` pairs of a form body, in order, `+` and `%XX`
/// decoded. Empty pieces (`a=1&&b=2`, a trailing `&`) are skipped; a piece
/// without `=` is a name with an empty value.
pub(crate) fn parse(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    body.split(|&b| b == b'&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = match piece.iter().position(|&b| b == b'=') {
                Some(eq) => (&piece[..eq], &piece[eq + 1..]),
                None => (piece, &b""[..]),
            };
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

/// Decodes one form component.
pub(crate) fn decode(s: &[u8]) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |k: usize| s.get(k).and_then(|&c| (c as char).to_digit(16));
                match (hex(i + 1), hex(i + 2)) {
                    (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                    _ => {
                        let end = (i + 3).min(s.len());
                        return Err(format!(
                            "malformed percent escape \"{}\"",
                            String::from_utf8_lossy(&s[i..end])
                        ));
                    }
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "form value is not UTF-8".to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pairs(body: &str) -> Vec<(String, String)> {
        parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn decodes_plus_and_percent() {
        assert_eq!(
            pairs("a=1&b=x+y%2Bz&c=%C3%A9%3d%26&&d&e="),
            [
                ("a", "1"),
                ("b", "x y+z"),
                ("c", "é=&"),
                ("d", ""),
                ("e", ""),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(pairs("na%6De=v=w"), [("name".into(), "v=w".into())]);
        assert!(pairs("").is_empty());
    }

    #[test]
    fn rejects_malformed_escapes_and_non_utf8() {
        for bad in ["a=%", "a=%4", "a=%zz", "a%g1=1", "a=%ff"] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
