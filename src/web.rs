//! wasm-bindgen facade for the browser (thin, typed).
