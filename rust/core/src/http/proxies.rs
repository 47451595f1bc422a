//! The proxies set in the environment (`HTTP_PROXY`, `ALL_PROXY`,
//! `NO_PROXY`), which object_store's client follows: a request they apply
//! to is left to that client rather than answered here.

/// The proxies set in the environment, which object_store's client
/// follows: requests they apply to are left to it.
#[derive(Debug)]
pub(crate) struct EnvProxies {
    pub(crate) any: bool,
    /// NO_PROXY entries: hosts (and their subdomains) reached directly.
    pub(crate) except: Vec<String>,
}

impl EnvProxies {
    pub(crate) fn read() -> Self {
        let set = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| crate::env::var(n).filter(|v| !v.trim().is_empty()))
        };
        let any = set(&["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]).is_some();
        let except = set(&["no_proxy", "NO_PROXY"])
            .unwrap_or_default()
            .split(',')
            .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        Self { any, except }
    }

    pub(crate) fn apply_to(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.any
            && !self.except.iter().any(|e| {
                e == "*"
                    || host == e
                    || (host.ends_with(e.as_str()) && host[..host.len() - e.len()].ends_with('.'))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_from_the_environment_keep_their_hosts() {
        let proxies = EnvProxies {
            any: true,
            except: vec!["127.0.0.1".into(), "example.com".into()],
        };
        assert!(!proxies.apply_to("127.0.0.1"));
        assert!(!proxies.apply_to("s3.example.com"));
        assert!(proxies.apply_to("badexample.com"));
        assert!(proxies.apply_to("minio.internal"));
        let none = EnvProxies {
            any: false,
            except: vec![],
        };
        assert!(!none.apply_to("minio.internal"));
    }
}
