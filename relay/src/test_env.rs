//! Refusing to start when the environment asks for test hooks this build
//! does not have.

use crate::error::RelayError;

/// Prefixes of the environment variables that only builds with the test
/// hooks read (the relay's misbehaviour on demand, the shifted clock).
const TEST_VARIABLE_PREFIXES: [&str; 2] = ["LIAISON_RELAY_TEST_", "LIAISON_TEST_"];

/// The variables among `names` that ask for test behaviour a build with
/// `hooks` = false does not have. [`crate::Relay::bind`] refuses to start when there
/// are any: an operator who set one expects behaviour (a forged checkpoint, a
/// shifted clock) that this relay would silently not have, and a production
/// relay must never be one environment variable away from misbehaving.
pub fn refused_test_variables(hooks: bool, names: impl IntoIterator<Item = String>) -> Vec<String> {
    if hooks {
        return Vec::new();
    }
    let mut refused: Vec<String> = names
        .into_iter()
        .filter(|n| TEST_VARIABLE_PREFIXES.iter().any(|p| n.starts_with(p)))
        .collect();
    refused.sort();
    refused
}

/// Refuse to start when this process's environment asks for test hooks
/// this build does not have ([`refused_test_variables`]). [`crate::Relay::bind`]
/// checks it; a tool that prepares files before binding checks it first.
pub fn check_test_environment() -> Result<(), RelayError> {
    let names = refused_test_variables(
        cfg!(feature = "test-hooks"),
        std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()),
    );
    if names.is_empty() {
        Ok(())
    } else {
        Err(RelayError::TestVariables { names })
    }
}

#[cfg(test)]
mod tests {
    use super::refused_test_variables;

    #[test]
    fn test_variables_are_refused_without_the_hooks() {
        let env = || {
            [
                "PATH",
                "LIAISON_RELAY_TEST_SUBSTITUTE_KEY",
                "LIAISON_TEST_CLOCK_OFFSET_MS",
                "LIAISON_HOME",
            ]
            .map(String::from)
        };
        assert_eq!(
            refused_test_variables(false, env()),
            [
                "LIAISON_RELAY_TEST_SUBSTITUTE_KEY",
                "LIAISON_TEST_CLOCK_OFFSET_MS"
            ]
        );
        assert!(refused_test_variables(true, env()).is_empty());
        assert!(refused_test_variables(false, ["LIAISON_HOME".to_owned()]).is_empty());
    }
}
