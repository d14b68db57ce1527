//! The mTLS principal: a client certificate's subject, written as an RFC 2253
//! distinguished name (`CN=alice,OU=eng,O=acme`), mapped to a user name by Kafka's
//! `ssl.principal.mapping.rules` (`RULE:pattern/replacement/[LU]`, …, `DEFAULT`).

use regex::Regex;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SslPrincipalError {
    #[error("ssl.principal.mapping.rules: {0}")]
    Rules(String),
    #[error("client certificate cannot be parsed: {0}")]
    Certificate(String),
    #[error("no ssl.principal.mapping.rules rule matches the certificate subject `{0}`")]
    NoMatchingRule(String),
}

/// One parsed mapping rule.
#[derive(Debug, Clone)]
enum Rule {
    /// The whole distinguished name is the user name.
    Default,
    Replace {
        pattern: Regex,
        replacement: String,
        case: Case,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

/// Parsed `ssl.principal.mapping.rules`, checked once at start.
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

impl PrincipalMapper {
    pub fn parse(text: &str) -> Result<PrincipalMapper, SslPrincipalError> {
        let mut rules = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("DEFAULT") {
                rules.push(Rule::Default);
                rest = after;
            } else if let Some(after) = rest.strip_prefix("RULE:") {
                let (pattern, after) = until_unescaped_slash(after)?;
                let (replacement, after) = until_unescaped_slash(after)?;
                let (case, after) = match after.chars().next() {
                    Some('L') => (Case::Lower, &after[1..]),
                    Some('U') => (Case::Upper, &after[1..]),
                    _ => (Case::Keep, after),
                };
                // Kafka requires the whole name to match
                let anchored = format!("^(?:{pattern})$");
                let pattern = Regex::new(&anchored)
                    .map_err(|e| SslPrincipalError::Rules(format!("bad pattern `{pattern}`: {e}")))?;
                rules.push(Rule::Replace { pattern, replacement: replacement.replace("\\/", "/"), case });
                rest = after;
            } else {
                return Err(SslPrincipalError::Rules(format!("expected RULE: or DEFAULT at `{rest}`")));
            }
            rest = rest.trim_start();
            match rest.strip_prefix(',') {
                Some(after) => rest = after.trim_start(),
                None if rest.is_empty() => {}
                None => return Err(SslPrincipalError::Rules(format!("expected `,` at `{rest}`"))),
            }
        }
        if rules.is_empty() {
            return Err(SslPrincipalError::Rules("no rules (use DEFAULT)".into()));
        }
        Ok(PrincipalMapper { rules })
    }

    /// The user name for a distinguished name: the first rule that matches wins.
    pub fn map(&self, dn: &str) -> Result<String, SslPrincipalError> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Ok(dn.to_string()),
                Rule::Replace { pattern, replacement, case } => {
                    if pattern.is_match(dn) {
                        let name = pattern.replace(dn, replacement.as_str()).into_owned();
                        return Ok(match case {
                            Case::Keep => name,
                            Case::Lower => name.to_lowercase(),
                            Case::Upper => name.to_uppercase(),
                        });
                    }
                }
            }
        }
        Err(SslPrincipalError::NoMatchingRule(dn.to_string()))
    }
}

/// Splits at the first `/` not preceded by a backslash.
fn until_unescaped_slash(s: &str) -> Result<(&str, &str), SslPrincipalError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'/' => return Ok((&s[..i], &s[i + 1..])),
            _ => i += 1,
        }
    }
    Err(SslPrincipalError::Rules(format!("rule part `{s}` is not closed by `/`")))
}

/// The certificate's subject as RFC 2253 writes it: most specific attribute first,
/// comma-separated, special characters escaped (what Kafka's default principal
/// builder shows, so operators' ACLs carry over).
pub fn subject_dn(cert_der: &[u8]) -> Result<String, SslPrincipalError> {
    use x509_parser::objects::{oid2abbrev, oid_registry};
    let (_, cert) =
        x509_parser::parse_x509_certificate(cert_der).map_err(|e| SslPrincipalError::Certificate(e.to_string()))?;
    let mut parts = Vec::new();
    for rdn in cert.subject().iter_rdn() {
        let attrs: Vec<String> = rdn
            .iter()
            .map(|a| {
                let key = oid2abbrev(a.attr_type(), oid_registry())
                    .map(|k| rfc2253_key(k).to_string())
                    .unwrap_or_else(|_| a.attr_type().to_id_string());
                let value = match a.as_str() {
                    Ok(s) => escape_value(s),
                    Err(_) => format!("#{}", hex(a.attr_value().data)),
                };
                format!("{key}={value}")
            })
            .collect();
        parts.push(attrs.join("+"));
    }
    parts.reverse();
    Ok(parts.join(","))
}

/// RFC 2253 keywords for the registry's short names.
fn rfc2253_key(abbrev: &str) -> &str {
    match abbrev {
        "commonName" => "CN",
        "countryName" => "C",
        "localityName" => "L",
        "stateOrProvinceName" => "ST",
        "organizationName" => "O",
        "organizationalUnitName" => "OU",
        "streetAddress" => "STREET",
        "domainComponent" => "DC",
        "userId" => "UID",
        other => other,
    }
}

fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        let edge_space = c == ' ' && (i == 0 || i + 1 == s.chars().count());
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') || edge_space || (i == 0 && c == '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rule_keeps_the_whole_name() {
        let m = PrincipalMapper::parse("DEFAULT").unwrap();
        assert_eq!(m.map("CN=alice,OU=eng,O=acme").unwrap(), "CN=alice,OU=eng,O=acme");
    }

    #[test]
    fn rules_apply_in_order_with_case_flags() {
        let m =
            PrincipalMapper::parse("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, RULE:^CN=([a-z]+),O=(.*)$/$1@$2/U,DEFAULT")
                .unwrap();
        assert_eq!(m.map("CN=Kafka-Client,OU=ServiceUsers,O=acme").unwrap(), "kafka-client");
        assert_eq!(m.map("CN=bob,O=acme").unwrap(), "BOB@ACME");
        assert_eq!(m.map("CN=Bob,OU=x").unwrap(), "CN=Bob,OU=x");
    }

    #[test]
    fn no_matching_rule_is_an_error() {
        let m = PrincipalMapper::parse("RULE:^CN=(.*)$/$1/").unwrap();
        assert_eq!(m.map("CN=a").unwrap(), "a");
        assert!(matches!(m.map("O=acme"), Err(SslPrincipalError::NoMatchingRule(_))));
    }

    #[test]
    fn escaped_slashes_and_bad_rules() {
        let m = PrincipalMapper::parse(r"RULE:^CN=(.*)\/x$/$1\/y/").unwrap();
        assert_eq!(m.map("CN=a/x").unwrap(), "a/y");
        assert!(PrincipalMapper::parse("").is_err());
        assert!(PrincipalMapper::parse("RULE:^CN=(.*)$").is_err());
        assert!(PrincipalMapper::parse("RULE:(/x/").is_err());
        assert!(PrincipalMapper::parse("DEFAULT junk").is_err());
    }

    #[test]
    fn values_are_escaped() {
        assert_eq!(escape_value("a,b"), "a\\,b");
        assert_eq!(escape_value(" a "), "\\ a\\ ");
        assert_eq!(escape_value("#x"), "\\#x");
        assert_eq!(escape_value("plain"), "plain");
    }
}
