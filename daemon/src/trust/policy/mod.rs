//! The policy: what each tool class may do on which target, and which local paths transfers
//! may read and write. It decides only what can be decided exactly — the host (as written, as
//! `user@host`, and the HostName ssh resolves), the class of the tool, local paths — and leaves
//! judgement of a command to a person (`ask`). The file's format lives in [`file`]; local paths
//! in [`local`].

mod file;
pub mod glob;
pub mod local;

pub use file::{PolicyError, parse};
pub use local::Local;

use crate::door::Class;

/// A set of tool classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassSet(u8);

impl ClassSet {
    pub const EMPTY: Self = Self(0);

    fn bit(class: Class) -> u8 {
        1 << (class as u8)
    }

    pub fn insert(&mut self, class: Class) {
        self.0 |= Self::bit(class);
    }

    pub fn contains(self, class: Class) -> bool {
        self.0 & Self::bit(class) != 0
    }

    pub fn of(classes: &[Class]) -> Self {
        let mut set = Self::EMPTY;
        for c in classes {
            set.insert(*c);
        }
        set
    }
}

/// What a rule lets through without asking, and what after a person approves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub allow: ClassSet,
    pub ask: ClassSet,
}

impl Default for Rule {
    /// Everything allowed, nothing asked.
    fn default() -> Self {
        Self {
            allow: ClassSet::of(&Class::POLICY),
            ask: ClassSet::EMPTY,
        }
    }
}

/// One `[[target]]` of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRule {
    /// Host globs (see [`glob`]).
    pub patterns: Vec<String>,
    pub rule: Rule,
    /// `deny = true`: every class refused.
    pub deny: bool,
}

/// A whole policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    pub default: Rule,
    /// In file order: the first match wins.
    pub targets: Vec<TargetRule>,
    pub local: Local,
}

/// What the policy says about one class on one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Allowed once a person approves this call.
    Ask,
    Deny,
}

/// A verdict and the rule that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// The deciding `[[target]]`'s `match`, joined with ", "; `None` for `[default]`.
    pub rule: Option<String>,
}

impl Decision {
    /// How a refusal names its rule: `[[target]] match = [...]` or `[default]`.
    pub fn rule_label(&self) -> String {
        match &self.rule {
            Some(m) => format!("[[target]] match = [{m}]"),
            None => "[default]".into(),
        }
    }
}

impl Policy {
    /// Whether any rule asks a person about anything.
    pub fn asks_anything(&self) -> bool {
        self.default.ask != ClassSet::EMPTY
            || self.targets.iter().any(|t| t.rule.ask != ClassSet::EMPTY)
    }

    /// Whether any rule depends on the target (else no name needs resolving).
    pub fn has_target_rules(&self) -> bool {
        !self.targets.is_empty()
    }

    /// The first `[[target]]` whose globs match any of `names` (the target as written, its
    /// `user@host` forms and its resolved HostName).
    pub fn rule_for(&self, names: &[String]) -> Option<&TargetRule> {
        self.targets.iter().find(|t| {
            t.patterns
                .iter()
                .any(|p| names.iter().any(|n| glob::matches(p, n)))
        })
    }

    /// What `class` may do on the target known by `names`. Listing and control classes touch
    /// no host and are always allowed.
    pub fn decide(&self, names: &[String], class: Class) -> Decision {
        if matches!(class, Class::Listing | Class::Control) {
            return Decision {
                verdict: Verdict::Allow,
                rule: None,
            };
        }
        let (rule, label) = match self.rule_for(names) {
            Some(t) => (t.rule, Some(t.patterns.join(", "))),
            None => (self.default, None),
        };
        let verdict = if rule.ask.contains(class) {
            Verdict::Ask
        } else if rule.allow.contains(class) {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        Decision {
            verdict,
            rule: label,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const FILE: &str = r#"
[default]
allow = ["read", "exec"]

[[target]]
match = ["prod-*", "*.prod.example.com"]
allow = ["read"]
ask = ["exec", "session"]

[[target]]
match = ["bastion", "ops@*"]
deny = true

[[target]]
match = ["prod-db"]
allow = ["exec"]
"#;

    #[test]
    fn the_first_matching_target_decides() {
        let p = parse(FILE).unwrap();
        let d = p.decide(&names(&["prod-db"]), Class::Exec);
        assert_eq!(d.verdict, Verdict::Ask, "prod-* comes before prod-db");
        assert_eq!(d.rule.as_deref(), Some("prod-*, *.prod.example.com"));
        let verdict = |c| p.decide(&names(&["prod-db"]), c).verdict;
        assert_eq!(verdict(Class::Read), Verdict::Allow);
        assert_eq!(verdict(Class::Write), Verdict::Deny);
    }

    #[test]
    fn any_name_of_the_target_can_match() {
        let p = parse(FILE).unwrap();
        // An alias whose HostName is in the production domain.
        let d = p.decide(
            &names(&["db1", "root@db1", "db1.prod.example.com"]),
            Class::Write,
        );
        assert_eq!(d.verdict, Verdict::Deny);
        // The user@host form.
        let d = p.decide(&names(&["jump", "ops@jump", "10.0.0.1"]), Class::Read);
        assert_eq!(d.verdict, Verdict::Deny);
        assert_eq!(d.rule.as_deref(), Some("bastion, ops@*"));
    }

    #[test]
    fn unmatched_targets_take_the_default_and_listing_always_passes() {
        let p = parse(FILE).unwrap();
        let d = p.decide(&names(&["dev"]), Class::Exec);
        assert_eq!((d.verdict, d.rule), (Verdict::Allow, None));
        assert_eq!(
            p.decide(&names(&["dev"]), Class::Forward).verdict,
            Verdict::Deny
        );
        assert_eq!(
            p.decide(&names(&["bastion"]), Class::Listing).verdict,
            Verdict::Allow
        );
    }

    #[test]
    fn deny_refuses_every_class() {
        let p = parse(FILE).unwrap();
        for c in Class::POLICY {
            assert_eq!(p.decide(&names(&["bastion"]), c).verdict, Verdict::Deny);
        }
    }

    #[test]
    fn no_file_allows_everything_without_asking() {
        let p = Policy::default();
        assert_eq!(
            p.decide(&names(&["x"]), Class::Forward).verdict,
            Verdict::Allow
        );
        assert_eq!(
            p.decide(&names(&["x"]), Class::Exec).verdict,
            Verdict::Allow
        );
    }
}
