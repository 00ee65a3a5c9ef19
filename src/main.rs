#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]
//! The `modelseal` command: parse the command line, run one command, map the outcome to an
//! exit status (0 verified or done, 1 rejected, 2 usage or operational error).

mod cli;

fn main() -> std::process::ExitCode {
    // SIGPIPE stays ignored, as Rust sets it: a registry that closes a connection must not
    // kill the process. Output to a closed pipe is dropped instead (see `outln!`).
    cli::main()
}
