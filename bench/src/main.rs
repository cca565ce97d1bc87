//! `courier-bench`: the command line of the [`bench`] library.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use bench::cli::{ChatArgs, Cli, Command, CompareArgs, FloorArgs, RenderArgs};
use bench::{CompareReport, Protocol, chat, floor, idle, render};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Idle(args) => idle::run(args).await.map(|_| ()),
        Command::Chat(args) => run_chat(&args).await,
        Command::Compare(args) => run_compare(&args).await,
        Command::Floor(args) => run_floor(&args).await,
        Command::Render(mut args) => run_render(&mut args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("courier-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the chat load; the JSON report goes to stdout, the summary to stderr.
async fn run_chat(args: &ChatArgs) -> Result<(), String> {
    let report = chat::run(&args.plan()).await?;
    println!("{}", report.to_json());
    if !args.load.json {
        eprint!("{}", report.summary());
    }
    Ok(())
}

/// Runs the same load against the relay, then the floor; reports both and the ratios.
async fn run_compare(args: &CompareArgs) -> Result<(), String> {
    let courier_plan = args.load.plan(args.relay, args.pid, Protocol::Courier);
    let floor_plan = args.load.plan(args.floor, args.floor_pid, Protocol::Floor);
    // Check both before loading either.
    courier_plan.check()?;
    floor_plan.check()?;
    let courier = chat::run(&courier_plan).await?;
    let floor = chat::run(&floor_plan).await?;
    let report = CompareReport::new(courier, floor);
    println!("{}", report.to_json());
    if !args.load.json {
        eprint!("{}", report.summary());
    }
    Ok(())
}

/// Runs the render benchmark; the JSON report goes to stdout, the summary to stderr.
async fn run_render(args: &mut RenderArgs) -> Result<(), String> {
    args.progress = !args.json;
    let report = render::run(args).await?;
    println!(
        "{}",
        serde_json::to_string(&report).map_err(|e| e.to_string())?
    );
    if !args.json {
        eprint!("{}", report.summary());
    }
    Ok(())
}

/// Runs the floor until a signal or `--max-seconds`; prints its address first.
async fn run_floor(args: &FloorArgs) -> Result<(), String> {
    let listener = floor::bind(args.listen).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {addr}");
    // A script reads the port from this line: make sure it is out before any load arrives.
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let config = floor::FloorConfig {
        read_buffer: args.read_buffer as usize,
        write_buffer: args.write_buffer as usize,
        queue_frames: args.queue_frames as usize,
    };
    floor::serve(
        listener,
        config,
        floor::stop_signal(Duration::from_secs(args.max_seconds)),
    )
    .await;
    Ok(())
}
