//! Argument rules ssh_grep and ssh_glob share, with the seed's wording: string arguments (not
//! trimmed, no NUL, not blank) and `head_limit` (at least 1); `timeout` is the door's
//! (`door::Common`).

use ssh_mcp_core::ssh::InvalidInput;

/// A required string argument, kept as given (the seed does not trim `pattern`, `path`, `glob`).
pub fn required(name: &str, value: &str) -> Result<String, InvalidInput> {
    if value.contains('\0') {
        return Err(InvalidInput(format!("'{name}' cannot contain NUL bytes.")));
    }
    if value.trim().is_empty() {
        return Err(InvalidInput(format!(
            "'{name}' must be a non-empty string."
        )));
    }
    Ok(value.to_owned())
}

/// An optional string argument: absent stays absent, present follows [`required`].
pub fn optional(name: &str, value: Option<&str>) -> Result<Option<String>, InvalidInput> {
    value.map(|v| required(name, v)).transpose()
}

/// `head_limit`: absent, or at least 1.
pub fn head_limit(value: Option<u32>) -> Result<Option<usize>, InvalidInput> {
    match value {
        Some(0) => Err(InvalidInput::new("'head_limit' must be >= 1.")),
        v => Ok(v.map(|n| n as usize)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_kept_as_given_but_not_blank_or_with_nul() {
        assert_eq!(required("pattern", " a ").unwrap(), " a ");
        assert_eq!(
            required("pattern", "  ").unwrap_err().0,
            "'pattern' must be a non-empty string."
        );
        assert_eq!(
            required("path", "a\0b").unwrap_err().0,
            "'path' cannot contain NUL bytes."
        );
        assert_eq!(optional("glob", None).unwrap(), None);
        assert!(optional("glob", Some("")).is_err());
    }

    #[test]
    fn head_limit_bounds() {
        assert_eq!(
            head_limit(Some(0)).unwrap_err().0,
            "'head_limit' must be >= 1."
        );
        assert_eq!(head_limit(Some(3)).unwrap(), Some(3));
        assert_eq!(head_limit(None).unwrap(), None);
    }
}
