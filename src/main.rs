fn main() {
    std::process::exit(bert_wgpu_cli::run());
}

#[path = "cli/mod.rs"]
mod bert_wgpu_cli;
