//! The benchmark refuses a server that limits posts per room. A test binary
//! of its own: the server publishes its limit as a metric, and metrics are
//! process-wide, so a limited server in the smoke run's process would show
//! its limit on the other servers' `/metrics` too.

use necsus_bench::client::Server;
use necsus_bench::plan::{self, Plan};
use necsus_bench::report::Reporter;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn the_benchmark_refuses_a_server_that_limits_rooms() {
    necsus::botcall::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let config = necsus::config::Config {
        db: dir.path().join("limited.db").to_string_lossy().into_owned(),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Server::new(&format!("http://{}", listener.local_addr().unwrap()), 8);
    let token = CancellationToken::new();
    let task = tokio::spawn(necsus::app::serve(listener, config, token.clone()));
    let mut out = Reporter {
        quiet: true,
        ..Default::default()
    };
    let result = plan::run("post", &Plan::smoke(), &server, None, None, &mut out).await;
    token.cancel();
    let _ = task.await;
    let error = result.expect_err("a rate-limited server is not benchmarked");
    assert!(error.contains("--room-rate-limit 0"), "{error}");
}
