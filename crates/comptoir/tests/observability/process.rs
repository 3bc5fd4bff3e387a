//! The `comptoir` binary itself: what it reports while serving and how it stops.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reports_readiness_per_dependency_logs_json_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_comptoir"))
        .args(["serve", "--demo", "--demo-products", "12"])
        .env("COMPTOIR_DATA_DIR", dir.path())
        .env("COMPTOIR_HTTP__ADDR", format!("127.0.0.1:{port}"))
        .env("COMPTOIR_WEB__ENABLED", "false")
        .env("COMPTOIR_AUTH__JWT_SECRET", "process-test-secret-process-test-secret")
        .env("COMPTOIR_LOG__LEVEL", "info,comptoir=debug")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // Logs go to stderr, read on a thread of their own until the process ends.
    let stderr = child.stderr.take().unwrap();
    let lines = std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>());

    let http = reqwest::Client::new();
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    let started = Instant::now();
    let readiness: Value = loop {
        if let Ok(reply) = http.get(&readyz).send().await
            && reply.status() == 200
        {
            break reply.json().await.unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(readiness["status"], "ready");
    assert_eq!(readiness["event_bus"], "memory");
    let dependencies: Vec<&str> =
        readiness["dependencies"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    for module in ["identity", "catalog", "inventory", "ordering", "payment"] {
        assert!(dependencies.iter().any(|d| d.contains(module)), "{module} missing from {dependencies:?}");
    }
    assert!(readiness["dependencies"].as_array().unwrap().iter().all(|d| d["status"] == "up"), "{readiness}");
    let metrics = http.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("comptoir_build_info"), "{metrics}");

    let stopping = Instant::now();
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(stopping.elapsed() < Duration::from_secs(30), "still running 30 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");

    let lines = lines.join().unwrap();
    let logs: Vec<Value> = lines
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let messages: Vec<&str> = logs.iter().filter_map(|l| l["fields"]["message"].as_str()).collect();
    for expected in ["Comptoir is ready", "shutdown requested: draining requests in progress", "stopped"] {
        assert!(messages.contains(&expected), "no {expected:?} in {messages:?}");
    }
    let text = lines.join("\n");
    for secret in [comptoir::demo::ADMIN_PASSWORD, comptoir::demo::CUSTOMER_PASSWORD, "process-test-secret"] {
        assert!(!text.contains(secret), "a log line holds a secret");
    }
}
