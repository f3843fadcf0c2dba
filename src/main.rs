fn main() {
    // Mesa's Vulkan loader complains on stderr when XDG_RUNTIME_DIR is unset (headless machines); the
    // variable only matters for window surfaces, which this program never creates.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    // A closed pipe on stdout (`bert-wgpu ... | head -1`) ends the program quietly with the conventional
    // status, as other command-line tools do, instead of a panic from `println!`. Rust ignores SIGPIPE by
    // default; checkpoints are written to a temporary name and renamed, so none is left half-written.
    #[cfg(unix)]
    // SAFETY: restoring the default action of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(bert_wgpu_cli::run());
}

#[path = "cli/mod.rs"]
mod bert_wgpu_cli;
