// The risk heatmap over the slide: one texel per model tile, mapped through a colour LUT.
//
// Drawn as one full-canvas triangle inside egui's paint callback (the viewport is the canvas, the
// scissor its clip). Each fragment finds its level-0 slide point from its framebuffer position, so
// texel (c, r) covers exactly level-0 [c*cell, (c+1)*cell) x [r*cell, (r+1)*cell) at every zoom.
//
// Data texture (Rg8Unorm): r = probability * analysed, g = analysed (0 or 1). Storing the value
// premultiplied by its mask keeps linear filtering honest at the edge of the analysed area.

struct Uniforms {
    // Level-0 slide point at framebuffer pixel (0, 0), and level-0 pixels per framebuffer pixel.
    origin: vec2<f32>,
    scale: vec2<f32>,
    // Level-0 size of the whole grid (cols * cell, rows * cell).
    extent: vec2<f32>,
    opacity: f32,
    threshold: f32,
    smooth_values: u32,
    linear_target: u32,
    _pad: vec2<u32>,
};

// Group 0 is per callback (each pane its view and style), group 1 the uploaded map and a LUT.
@group(0) @binding(0) var<uniform> u: Uniforms;
@group(1) @binding(0) var values: texture_2d<f32>;
@group(1) @binding(1) var nearest_sampler: sampler;
@group(1) @binding(2) var linear_sampler: sampler;
@group(1) @binding(3) var lut: texture_2d<f32>;

@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    // One triangle that covers the viewport.
    let p = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(p * 2.0 - 1.0, 0.0, 1.0);
}

fn linear_from_srgb(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_main(@builtin(position) frag: vec4<f32>) -> @location(0) vec4<f32> {
    let slide = u.origin + frag.xy * u.scale;
    let uv = slide / u.extent;
    if (any(uv < vec2<f32>(0.0)) || any(uv >= vec2<f32>(1.0))) {
        discard;
    }
    // Explicit LOD: no derivatives, so sampling after `discard` is valid.
    let near = textureSampleLevel(values, nearest_sampler, uv, 0.0);
    let soft = textureSampleLevel(values, linear_sampler, uv, 0.0);
    let s = select(near, soft, u.smooth_values == 1u);
    if (s.g < 0.5 / 255.0) {
        discard;
    }
    let p = clamp(s.r / s.g, 0.0, 1.0);
    if (p < u.threshold) {
        discard;
    }
    // LUT texel centres: 256 entries.
    let lut_u = (p * 255.0 + 0.5) / 256.0;
    var rgb = textureSampleLevel(lut, linear_sampler, vec2<f32>(lut_u, 0.5), 0.0).rgb;
    if (u.linear_target == 1u) {
        rgb = linear_from_srgb(rgb);
    }
    let a = u.opacity * clamp(s.g, 0.0, 1.0);
    return vec4<f32>(rgb * a, a);
}
