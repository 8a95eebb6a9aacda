//! What a person is written as: their name and e-mail address, checked the
//! same way for the CLI, the console and a CSV import.

/// A person's field the rules refuse; `Display` is Portuguese, for the
/// admin who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPersonField {
    #[error("O nome deve ter de 1 a 200 caracteres, sem quebras de linha.")]
    Name,
    #[error("\"{0}\" não é um endereço de e-mail.")]
    Email(String),
}

/// Longest name kept.
const MAX_NAME_CHARS: usize = 200;
/// Longest e-mail address (RFC 5321's path limit).
const MAX_EMAIL_LEN: usize = 254;

/// A name as typed, trimmed: 1 to 200 characters, no control characters.
pub fn person_name(value: &str) -> Result<String, InvalidPersonField> {
    let value = value.trim();
    let ok = !value.is_empty()
        && value.chars().count() <= MAX_NAME_CHARS
        && !value.chars().any(char::is_control);
    ok.then(|| value.to_owned()).ok_or(InvalidPersonField::Name)
}

/// An e-mail address, trimmed and lowercased: something before the `@`, a
/// dot after it, no spaces or control characters.
pub fn email_address(value: &str) -> Result<String, InvalidPersonField> {
    let value = value.trim().to_lowercase();
    let ok = value.len() <= MAX_EMAIL_LEN
        && value
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    let shown: String = value.chars().filter(|c| !c.is_control()).take(80).collect();
    ok.then_some(value).ok_or(InvalidPersonField::Email(shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_are_checked() {
        assert_eq!(person_name("  Ana Souza ").unwrap(), "Ana Souza");
        assert!(person_name("").is_err());
        assert!(person_name("Ana\nSouza").is_err());
        assert!(person_name(&"a".repeat(201)).is_err());
        assert_eq!(
            email_address(" Ana@Acme.com.BR ").unwrap(),
            "ana@acme.com.br"
        );
        for bad in [
            "ana",
            "@acme.com",
            "ana@acme",
            "ana souza@acme.com",
            "ana\u{7}@acme.com",
        ] {
            assert!(email_address(bad).is_err(), "{bad:?}");
        }
    }
}
