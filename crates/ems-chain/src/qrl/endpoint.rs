//! `qrl://HOST:PORT`: where a qrl-node serves its public gRPC API.

use super::QrlError;
use std::fmt;
use std::str::FromStr;

/// Longest host name accepted (DNS limit).
const MAX_HOST: usize = 253;

/// The address of a qrl-node's public API, parsed from `qrl://HOST:PORT`.
///
/// `HOST` is a DNS name, an IPv4 address or a bracketed IPv6 address; the API speaks plain
/// HTTP/2 (qrl-node serves it without TLS), so run the node beside `emsd` or reach it over a
/// tunnel you trust.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QrlEndpoint {
    host: String,
    port: u16,
}

impl QrlEndpoint {
    /// The host part as given.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The API port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URI the gRPC channel connects to.
    pub(crate) fn uri(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
}

impl FromStr for QrlEndpoint {
    type Err = QrlError;

    fn from_str(text: &str) -> Result<Self, QrlError> {
        let bad = |why| QrlError::Endpoint {
            text: text.chars().take(100).collect(),
            why,
        };
        let rest = text
            .strip_prefix("qrl://")
            .ok_or_else(|| bad("it does not start with qrl://"))?;
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| bad("the port is missing"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
        let valid_host = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'))
        {
            v6.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !host.is_empty()
                && host.len() <= MAX_HOST
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        };
        if !valid_host {
            return Err(bad(
                "the host is not a DNS name, an IPv4 address or a bracketed IPv6 address",
            ));
        }
        Ok(QrlEndpoint {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for QrlEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "qrl://{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_parse_and_print_back() {
        for text in [
            "qrl://127.0.0.1:19009",
            "qrl://node.example-1.org:1",
            "qrl://[::1]:29009",
        ] {
            let e: QrlEndpoint = text.parse().unwrap();
            assert_eq!(e.to_string(), text);
        }
        let e: QrlEndpoint = "qrl://[::1]:29009".parse().unwrap();
        assert_eq!((e.host(), e.port()), ("[::1]", 29009));
        assert_eq!(e.uri(), "http://[::1]:29009");
    }

    #[test]
    fn malformed_endpoints_say_what_is_wrong() {
        let cases = [
            ("http://127.0.0.1:19009", "qrl://"),
            ("qrl://127.0.0.1", "port is missing"),
            ("qrl://127.0.0.1:0", "1 to 65535"),
            ("qrl://127.0.0.1:70000", "1 to 65535"),
            ("qrl://:19009", "host"),
            ("qrl://a/b:19009", "host"),
            ("qrl://[zz]:19009", "host"),
            ("qrl://user@host:19009", "host"),
        ];
        for (text, why) in cases {
            let err = text.parse::<QrlEndpoint>().unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
            assert!(err.contains("expected qrl://HOST:PORT"), "{text}: {err}");
        }
    }
}
