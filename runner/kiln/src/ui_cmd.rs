//! `kiln ui [--port N] [--listen ADDR] [--allow-approvals] [--dir PROJECT]`: the web pages of a
//! project's records (kiln-ui's server), on a loopback address unless told otherwise, behind a
//! random access token printed at start (as Jupyter does). Deployments are read from
//! `.kiln/deployments/`; pipeline runs from the store `.kiln/pipelines/` when there is one
//! (`pipeline_ui.rs`), whose approvals the pages answer with `--allow-approvals`.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use kiln_record::Records;
use kiln_ui::sources::{FileDeployments, NoApprover, NoPipelines};

use crate::exit;

/// `kiln ui`.
#[derive(Args)]
pub struct UiArgs {
    /// The port (0: any free one).
    #[arg(long, default_value_t = 8765)]
    pub port: u16,
    /// The address to listen on. Anything but a loopback address lets other machines reach the
    /// pages (with the token).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub listen: IpAddr,
    /// Let the pages approve or reject pipeline approvals (read-only otherwise).
    #[arg(long)]
    pub allow_approvals: bool,
    /// The project whose .kiln/ is shown.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

pub fn run(args: UiArgs) -> ExitCode {
    let records = Records::of_project(&args.dir);
    if !records.root().is_dir() {
        return exit::usage(&format!("{} has no .kiln directory: run kiln build there first, or give the project with --dir", args.dir.display()));
    }
    let token = kiln_ui::server::auth::random_token();
    let listen = SocketAddr::new(args.listen, args.port);
    let config = kiln_ui::server::Config {
        deployments: Arc::new(FileDeployments { records: records.clone() }),
        records,
        listen,
        token: token.clone(),
        allow_approvals: args.allow_approvals,
        pipelines: Arc::new(NoPipelines),
        approver: Arc::new(NoApprover),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => return exit::internal(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async move {
        let mut config = config;
        let store_dir = args.dir.join(".kiln").join("pipelines");
        if store_dir.join("pipeline.db").is_file() {
            match kiln_pipeline::store::Store::open(&store_dir).await {
                Ok(store) => {
                    config.pipelines = Arc::new(crate::pipeline_ui::StorePipelines { store: store.clone() });
                    config.approver = Arc::new(crate::pipeline_ui::StoreApprover { store });
                }
                Err(e) => eprintln!("kiln: warning: pipeline runs are not shown: {e}"),
            }
        }
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let (addr, serve) = match kiln_ui::server::bind(config, shutdown).await {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => return exit::usage(&format!("{listen} is in use: choose another --port (0 for any free one)")),
            Err(e) => return exit::internal(&format!("cannot listen on {listen}: {e}")),
        };
        let host = match addr.ip() {
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        };
        if !addr.ip().is_loopback() {
            eprintln!("kiln: warning: listening on {addr}: other machines can reach these pages (they need the token)");
        }
        // A closed stdout (the reader went away) must not stop the server: write, never panic.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "kiln ui: the records of {}", std::fs::canonicalize(&args.dir).unwrap_or(args.dir.clone()).display());
        let _ = writeln!(out, "    http://{host}:{}/?token={token}", addr.port());
        let _ = writeln!(out, "(open that address; approvals are {}; Ctrl-C stops)", if args.allow_approvals { "allowed" } else { "read-only" });
        let _ = out.flush();
        drop(out);
        match serve.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => exit::internal(&format!("the server stopped: {e}")),
        }
    })
}
