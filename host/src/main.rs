//! The `cardhost` command: see `cardhost --help`.

fn main() -> std::process::ExitCode {
    cardhost::cli::main()
}
