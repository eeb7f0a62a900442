//! Host globs of a policy's `match`: `*` (any run of characters) and `?` (one character),
//! compared without regard to ASCII case, as ssh compares host names. Nothing else is special,
//! so a pattern cannot mean more than it shows.

/// Whether `name` matches `pattern`, in time proportional to their lengths' product at worst
/// (the classic greedy matcher that backs up to the last `*` only).
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let n: Vec<char> = name.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == n[ni])) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("prod-*", "prod-web1"));
        assert!(matches("prod-*", "prod-"));
        assert!(!matches("prod-*", "staging-prod-1"));
        assert!(matches("*.prod.example.com", "db.prod.example.com"));
        assert!(!matches("*.prod.example.com", "prod.example.com"));
        assert!(matches("web?", "web1"));
        assert!(!matches("web?", "web12"));
        assert!(matches("*", ""));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
    }

    #[test]
    fn case_does_not_matter_and_nothing_else_is_special() {
        assert!(matches("PROD-*", "prod-1"));
        assert!(!matches("[pq]rod", "prod"));
        assert!(matches("[pq]rod", "[pq]rod"));
        assert!(!matches("prod", "prod "));
    }

    #[test]
    fn many_stars_do_not_backtrack_without_end() {
        // Exponential matchers never finish this one; the greedy matcher does about n·m steps.
        let pattern = "*a".repeat(30);
        let name = ("a".repeat(29) + "b").repeat(20);
        assert!(!matches(&pattern, &name));
    }
}
