//! What service managers and containers rely on: `check --connect` tells a
//! database that refuses keepsake (fail) from one that is down (warn);
//! the agent speaks systemd's notify protocol (READY, RELOADING, STOPPING,
//! WATCHDOG) on a real socket; `health` asks the running agent; shell
//! completions and man pages come out without any configuration.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::agent::Agent;
use common::receiver::free_port;
use common::*;

fn local_job(dir: &std::path::Path, name: &str, database: &str) -> String {
    format!(
        "[storage.disk]\ntype = \"local\"\npath = \"{}\"\n[jobs.{name}]\ndatabase = \"{database}\"\nschedule = \"0 3 * * *\"\n",
        dir.join("backups").display()
    )
}

#[test]
fn check_connect_fails_when_refused_warns_when_down_and_is_quiet_when_fine() {
    let db = sample_db("connect");
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str, quiet: bool| {
        let config = config_file(dir.path(), text);
        let mut cmd = keepsake(None);
        cmd.arg("-c").arg(config).args(["check", "--connect"]);
        if quiet {
            cmd.arg("--quiet");
        }
        run(cmd)
    };

    let (code, stdout, stderr) = check(&local_job(dir.path(), "fine", &db_url(&db)), true);
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
    let (code, stdout, _) = check(&local_job(dir.path(), "fine", &db_url(&db)), false);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("jobs.fine: connected to PostgreSQL") && stdout.contains("fits"),
        "{stdout}"
    );

    let no_role = format!(
        "host={} port={} user=no_such_role_for_check dbname={db}",
        pg_host(),
        pg_port()
    );
    let (code, _, stderr) = check(&local_job(dir.path(), "norole", &no_role), true);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("jobs.norole: PostgreSQL refused keepsake"),
        "{stderr}"
    );
    assert!(
        stderr.contains("role \"no_such_role_for_check\" does not exist"),
        "{stderr}"
    );
    assert!(
        stderr.contains("pg_read_all_data") && stderr.contains("Database role"),
        "{stderr}"
    );

    let down = format!("host=127.0.0.1 port={} dbname=shop", free_port());
    let (code, _, stderr) = check(&local_job(dir.path(), "down", &down), true);
    assert_eq!(code, 0, "a server that is down may come up: {stderr}");
    assert!(
        stderr.contains("warning: jobs.down: the database cannot be reached now"),
        "{stderr}"
    );
}

/// Datagrams received on a notify socket, as systemd would get them.
fn notifications(socket: &UnixDatagram, into: &mut Vec<String>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        into.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
}

#[test]
fn the_agent_tells_systemd_ready_reloading_watchdog_and_stopping() {
    let db = sample_db("notify_socket");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let config = config_file(dir.path(), &local_job(dir.path(), "shop", &db_url(&db)));
    let mut cmd = keepsake(None);
    cmd.arg("-c")
        .arg(&config)
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "300000");
    let mut agent = Agent::spawn(cmd);
    let mut got = Vec::new();
    let wait = |what: &str, got: &mut Vec<String>, cond: &dyn Fn(&[String]) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond(got) {
            assert!(
                Instant::now() < deadline,
                "no {what}: {got:?}\n{}",
                agent.text()
            );
            notifications(&socket, got);
        }
    };
    wait("READY=1", &mut got, &|g| {
        g.iter().any(|m| m.contains("READY=1"))
    });
    assert!(got[0].contains("STATUS=running 1 jobs"), "{got:?}");
    wait("watchdog pings", &mut got, &|g| {
        g.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 3
    });
    agent.signal("-HUP");
    wait("a reload", &mut got, &|g| {
        let reloading = g.iter().position(|m| m.contains("RELOADING=1"));
        reloading.is_some_and(|at| g[at..].iter().any(|m| m.contains("READY=1")))
    });
    agent.signal("-TERM");
    wait("STOPPING=1", &mut got, &|g| {
        g.iter().any(|m| m.contains("STOPPING=1"))
    });
    assert_eq!(agent.stop(30), Some(0), "{}", agent.text());
}

#[test]
fn health_asks_the_running_agent() {
    let db = sample_db("health");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let text = format!(
        "[http]\nlisten = \"0.0.0.0:{port}\"\n{}",
        local_job(dir.path(), "shop", &db_url(&db))
    );
    let config = config_file(dir.path(), &text);
    let health = || {
        let mut cmd = keepsake(None);
        cmd.arg("-c").arg(&config).arg("health");
        run(cmd)
    };
    let (code, _, stderr) = health();
    assert_eq!(code, 1, "no agent yet");
    assert!(
        stderr.contains(&format!("http://127.0.0.1:{port}/healthz")),
        "{stderr}"
    );

    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(&config);
    let mut agent = Agent::spawn(cmd);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, stdout, _) = health();
        if code == 0 {
            assert_eq!(stdout, "ok\n");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never healthy:\n{}",
            agent.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    agent.stop_promptly();

    let plain = config_file(dir.path(), &local_job(dir.path(), "shop", &db_url(&db)));
    let mut cmd = keepsake(None);
    cmd.arg("-c").arg(plain).arg("health");
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("set http.listen (or HTTP_LISTEN)"),
        "{stderr}"
    );
}

#[test]
fn completions_and_man_pages_need_no_configuration() {
    for (shell, marker) in [
        ("bash", "_keepsake()"),
        ("zsh", "#compdef keepsake"),
        ("fish", "complete -c keepsake"),
    ] {
        let mut cmd = keepsake(None);
        cmd.args(["completions", shell]);
        let (code, stdout, stderr) = run(cmd);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains(marker) && stdout.contains("status"),
            "{shell}: {stdout}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = keepsake(None);
    cmd.arg("manual").arg(dir.path().join("man"));
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    for page in [
        "keepsake.1",
        "keepsake-backup.1",
        "keepsake-restore.1",
        "keepsake-status.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join("man").join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
}

#[test]
fn a_system_without_ca_certificates_gets_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\n[jobs.shop]\ndatabase = \"shop\"\n",
        s3_storage_toml("s3", "no-certs", &s3_url())
    );
    let config = config_file(dir.path(), &text);
    for command in ["check", "list", "backup"] {
        let mut cmd = keepsake(None);
        cmd.arg("-c")
            .arg(&config)
            .arg(command)
            .env("SSL_CERT_FILE", dir.path().join("none.pem"))
            .env("SSL_CERT_DIR", dir.path().join("none"));
        let (code, _, stderr) = run(cmd);
        assert_eq!(code, 1, "{command}: {stderr}");
        assert!(
            stderr.contains("install the ca-certificates package"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
