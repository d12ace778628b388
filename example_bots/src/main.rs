//! Serves the example bots: `example_bots --bind 127.0.0.1:1234`.

use std::net::SocketAddr;

use clap::Parser;

#[derive(Parser)]
#[command(name = "example_bots", about = "The NeCSuS example bots server")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "EXAMPLE_BOTS_BIND", default_value = "127.0.0.1:1234")]
    bind: SocketAddr,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let listener = match tokio::net::TcpListener::bind(args.bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("example_bots: cannot listen on {}: {e}", args.bind);
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::info!(addr = %args.bind, "example bots listening");
    if let Err(e) = axum::serve(listener, example_bots::router()).await {
        eprintln!("example_bots: {e}");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
