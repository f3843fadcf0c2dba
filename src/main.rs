fn main() {
    // Mesa's Vulkan loader complains on stderr when XDG_RUNTIME_DIR is unset (headless machines); the
    // variable only matters for window surfaces, which this program never creates.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    std::process::exit(bert_wgpu_cli::run());
}

#[path = "cli/mod.rs"]
mod bert_wgpu_cli;
