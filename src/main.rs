fn main() -> std::process::ExitCode {
    necsus::cli::main()
}
