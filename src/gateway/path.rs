//! Gateway path patterns: normalised matching and `:param` segments.
//!
//! Paths compare segment by segment with empty segments ignored, so `ws/`, `/ws` and `/ws/`
//! are the same path and `""` is `/` (as NestJS normalises gateway paths). A pattern segment
//! `:name` matches any one non-empty segment. Matching is exact otherwise (case-sensitive,
//! no percent-decoding). Never allocates.

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// True when `path` matches `pattern`.
///
/// ```
/// use wsgate::gateway::path_matches;
/// assert!(path_matches("ws/", "/ws"));
/// assert!(path_matches("", "/"));
/// assert!(path_matches("/rooms/:id", "/rooms/42"));
/// assert!(!path_matches("/rooms/:id", "/rooms"));
/// ```
pub fn matches(pattern: &str, path: &str) -> bool {
    let mut p = segments(pattern);
    let mut s = segments(path);
    loop {
        match (p.next(), s.next()) {
            (None, None) => return true,
            (Some(want), Some(got)) => {
                if !(want.starts_with(':') || want == got) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// The value of the `:name` segment of `pattern` in `path` (when `path` matches).
///
/// ```
/// use wsgate::gateway::path_param;
/// assert_eq!(path_param("/rooms/:id/:user", "/rooms/7/ann", "user"), Some("ann"));
/// assert_eq!(path_param("/rooms/:id", "/rooms/7", "nope"), None);
/// ```
pub fn param<'a>(pattern: &str, path: &'a str, name: &str) -> Option<&'a str> {
    if !matches(pattern, path) {
        return None;
    }
    segments(pattern)
        .zip(segments(path))
        .find_map(|(want, got)| (want.strip_prefix(':') == Some(name)).then_some(got))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised() {
        assert!(matches("/", "/"));
        assert!(matches("", "/"));
        assert!(matches("/", ""));
        assert!(matches("ws", "/ws"));
        assert!(matches("/ws/", "/ws"));
        assert!(!matches("/ws", "/"));
        assert!(!matches("/ws", "/ws/x"));
        assert!(!matches("/ws", "/WS"));
        assert!(!matches("/chat", "/chatroom"));
    }

    #[test]
    fn params() {
        assert!(matches("/a/:x", "/a/1"));
        assert!(!matches("/a/:x", "/a/"));
        assert_eq!(param("/a/:x/b/:y", "/a/1/b/2", "x"), Some("1"));
        assert_eq!(param("/a/:x/b/:y", "/a/1/b/2", "y"), Some("2"));
        assert_eq!(param("/a/:x/b/:y", "/a/1/c/2", "y"), None);
    }
}
