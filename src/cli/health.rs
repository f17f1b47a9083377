//! `keepsake health`: asks the running agent's `/healthz` (for a
//! container's HEALTHCHECK, which has no curl): exit 0 when it answers
//! 200, 1 otherwise.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::config::Config;

/// How long the agent may take to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Where to ask: the listen address, with an unspecified IP (0.0.0.0,
/// `::`) replaced by loopback.
pub fn target(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

pub async fn health(config: &Config) -> u8 {
    let Some(listen) = config.http.listen else {
        eprintln!(
            "keepsake: no HTTP endpoint to ask: set http.listen (or HTTP_LISTEN) for `keepsake run`"
        );
        return 1;
    };
    let url = format!("http://{}/healthz", target(listen));
    // Loopback: never through a proxy the environment may name.
    let client = match reqwest::Client::builder().no_proxy().build() {
        Ok(client) => client,
        Err(e) => {
            eprintln!("keepsake: {}", crate::monitor::notify::describe_error(&e));
            return 1;
        }
    };
    let answer = client.get(&url).timeout(TIMEOUT).send().await;
    match answer {
        Ok(a) if a.status().is_success() => {
            println!("ok");
            0
        }
        Ok(a) => {
            eprintln!("keepsake: {url} answered HTTP {}", a.status());
            1
        }
        Err(e) => {
            eprintln!(
                "keepsake: {url}: {}",
                crate::monitor::notify::describe_error(&e)
            );
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_asked_on_loopback() {
        let t = |s: &str| target(s.parse().unwrap()).to_string();
        assert_eq!(t("0.0.0.0:9187"), "127.0.0.1:9187");
        assert_eq!(t("[::]:9187"), "[::1]:9187");
        assert_eq!(t("10.1.2.3:9187"), "10.1.2.3:9187");
    }
}
