// Shared helpers, prepended to every shader file.

// Activations selected by a uniform field (`act`): the names of Hugging Face's `hidden_act`.
const ACT_NONE: u32 = 0u;
const ACT_GELU: u32 = 1u;       // "gelu": x * Phi(x), exact (erf)
const ACT_GELU_TANH: u32 = 2u;  // "gelu_new", "gelu_pytorch_tanh": tanh approximation
const ACT_TANH: u32 = 3u;       // pooler
const ACT_RELU: u32 = 4u;

// erf(x) through the Chebyshev fit of erfc in Numerical Recipes (fractional error below 1.2e-7),
// close to f32 rounding, which is what GELU's use needs.
fn erf_f32(x: f32) -> f32 {
    let z = abs(x);
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
        t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
        t * (-0.82215223 + t * 0.17087277)))))))));
    return select(r - 1.0, 1.0 - r, x >= 0.0);
}

fn gelu_erf(x: f32) -> f32 {
    return 0.5 * x * (1.0 + erf_f32(x * 0.70710678118654752));
}

// tanh that does not overflow for large |x| (exp(2x) = inf gives NaN in the naive form).
fn tanh_safe(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - e) / (1.0 + e);
}

fn gelu_tanh(x: f32) -> f32 {
    let inner = 0.79788456080286536 * (x + 0.044715 * x * x * x);
    return 0.5 * x * (1.0 + tanh_safe(inner));
}

fn activate(x: f32, act: u32) -> f32 {
    switch act {
        case 1u: { return gelu_erf(x); }
        case 2u: { return gelu_tanh(x); }
        case 3u: { return tanh_safe(x); }
        case 4u: { return max(x, 0.0); }
        default: { return x; }
    }
}
