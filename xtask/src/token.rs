//! The GitHub token the toolkit is given (`GH_TOKEN`, else `GITHUB_TOKEN`): read in one place,
//! handed only to the GitHub client and to git's credential helper, never shown.

use std::fmt;

/// A GitHub token. It is only ever handed to octocrab (or git's credential callback); `Debug`
/// and `Display` never show it.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// The token from `GH_TOKEN`, else `GITHUB_TOKEN` (the gh CLI's order: a token given to a
    /// step as `GH_TOKEN`, e.g. the fork's, wins over the job's ambient `GITHUB_TOKEN`).
    pub fn from_env() -> Option<Token> {
        ["GH_TOKEN", "GITHUB_TOKEN"]
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .map(|v| v.trim().to_string())
            .find(|v| !v.is_empty())
            .map(Token)
    }

    /// The secret itself, for the one place that must send it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

/// A token handed over directly (from a secret store, or a test's fake token).
impl From<&str> for Token {
    fn from(secret: &str) -> Token {
        Token(secret.trim().to_string())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::Token;

    #[test]
    fn token_never_shows_in_debug() {
        let t = Token("ghp_secretvalue".into());
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
    }
}
