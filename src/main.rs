//! The `weir` binary: parses the command line and hands over to [`weir::cli`].

fn main() -> std::process::ExitCode {
    weir::cli::main()
}
