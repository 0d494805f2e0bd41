// Dense annotation sets (cell outlines, points, their fills) drawn from GPU buffers that are
// uploaded once per document revision: a frame only writes these uniforms and picks instance ranges.
//
// Positions are level-0 slide pixels; the uniforms map them to framebuffer pixels, and the pass's
// viewport is the whole framebuffer (egui's scissor still clips to the canvas). Looks follow the
// egui-drawn annotations: a 2-point line in the class colour over a 4-point translucent black
// shadow, points as discs of radius 5 points with a black ring, fills at a quarter opacity.

struct Uniforms {
    // Level-0 point at framebuffer pixel (0, 0), and framebuffer pixels per level-0 pixel.
    origin: vec2<f32>,
    zoom: f32,
    // Framebuffer pixels per egui point.
    ppp: f32,
    screen: vec2<f32>,
    // The annotation being edited (drawn by egui on top), or 0xffffffff.
    skip: u32,
    linear_target: u32,
};

@group(0) @binding(0) var<uniform> u: Uniforms;

struct Out {
    @builtin(position) pos: vec4<f32>,
    @location(0) color: vec4<f32>,
    // Framebuffer pixels: for a line, (across, along from its start); for a disc, from its centre.
    @location(1) offset: vec2<f32>,
    // A line's length in framebuffer pixels.
    @location(2) @interpolate(flat) len: f32,
};

fn linear_from_srgb(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

fn unpack(c: u32) -> vec4<f32> {
    var v = unpack4x8unorm(c);
    if (u.linear_target == 1u) {
        v = vec4<f32>(linear_from_srgb(v.rgb), v.a);
    }
    return v;
}

fn framebuffer(p: vec2<f32>) -> vec2<f32> {
    return (p - u.origin) * u.zoom;
}

fn clip(f: vec2<f32>) -> vec4<f32> {
    return vec4<f32>(f.x / u.screen.x * 2.0 - 1.0, 1.0 - f.y / u.screen.y * 2.0, 0.0, 1.0);
}

// Collapses every vertex of a skipped instance to one point: no area, nothing drawn.
fn skipped() -> Out {
    var o: Out;
    o.pos = vec4<f32>(-2.0, -2.0, 0.0, 1.0);
    o.color = vec4<f32>(0.0);
    o.offset = vec2<f32>(0.0);
    o.len = 0.0;
    return o;
}

// Two triangles: (along, across) corners of a quad.
fn corner(i: u32) -> vec2<f32> {
    var c = array<vec2<f32>, 6>(
        vec2<f32>(0.0, -1.0), vec2<f32>(1.0, -1.0), vec2<f32>(0.0, 1.0),
        vec2<f32>(0.0, 1.0), vec2<f32>(1.0, -1.0), vec2<f32>(1.0, 1.0),
    );
    return c[i];
}

// Half widths in points: the line, and the line with its shadow.
const LINE_HALF: f32 = 1.0;
const SHADOW_HALF: f32 = 2.0;
const SHADOW_ALPHA: f32 = 0.47;

@vertex
fn vs_segment(
    @builtin(vertex_index) vi: u32,
    @location(0) a: vec2<f32>,
    @location(1) b: vec2<f32>,
    @location(2) color: u32,
    @location(3) index: u32,
) -> Out {
    if (index == u.skip) {
        return skipped();
    }
    let pa = framebuffer(a);
    let pb = framebuffer(b);
    let d = pb - pa;
    let len = length(d);
    var dir = vec2<f32>(1.0, 0.0);
    if (len > 1e-4) {
        dir = d / len;
    }
    let normal = vec2<f32>(-dir.y, dir.x);
    // Half a pixel beyond the shadow for the antialiased edge; the ends are capped as far.
    let half = SHADOW_HALF * u.ppp + 1.0;
    let c = corner(vi);
    let p = mix(pa, pb, c.x) + dir * (c.x * 2.0 - 1.0) * half + normal * c.y * half;
    var o: Out;
    o.pos = clip(p);
    o.color = unpack(color);
    o.offset = vec2<f32>(c.y * half, c.x * (len + 2.0 * half) - half);
    o.len = len;
    return o;
}

// Distance from the segment (round caps, so consecutive segments join without spikes).
fn segment_distance(i: Out) -> f32 {
    let beyond = max(max(-i.offset.y, i.offset.y - i.len), 0.0);
    return length(vec2<f32>(i.offset.x, beyond));
}

// All shadows are drawn before any line, so a shadow never darkens the line it joins.
@fragment
fn fs_segment_shadow(i: Out) -> @location(0) vec4<f32> {
    let a = clamp(SHADOW_HALF * u.ppp + 0.5 - segment_distance(i), 0.0, 1.0) * SHADOW_ALPHA;
    if (a <= 0.0) {
        discard;
    }
    return vec4<f32>(0.0, 0.0, 0.0, a);
}

@fragment
fn fs_segment(i: Out) -> @location(0) vec4<f32> {
    let a = clamp(LINE_HALF * u.ppp + 0.5 - segment_distance(i), 0.0, 1.0);
    if (a <= 0.0) {
        discard;
    }
    return vec4<f32>(i.color.rgb * a, a);
}

// Point discs: radius 5 points, the outer 1.5 points a black ring.
const DOT_RADIUS: f32 = 5.75;
const DOT_RING: f32 = 1.5;

@vertex
fn vs_dot(
    @builtin(vertex_index) vi: u32,
    @location(0) p: vec2<f32>,
    @location(1) color: u32,
    @location(2) index: u32,
) -> Out {
    if (index == u.skip) {
        return skipped();
    }
    let half = DOT_RADIUS * u.ppp + 1.0;
    let c = corner(vi);
    let offset = vec2<f32>(c.x * 2.0 - 1.0, c.y) * half;
    var o: Out;
    o.pos = clip(framebuffer(p) + offset);
    o.color = unpack(color);
    o.offset = offset;
    o.len = 0.0;
    return o;
}

@fragment
fn fs_dot(i: Out) -> @location(0) vec4<f32> {
    let d = length(i.offset);
    let disc = clamp(DOT_RADIUS * u.ppp + 0.5 - d, 0.0, 1.0);
    let inner = clamp((DOT_RADIUS - DOT_RING) * u.ppp + 0.5 - d, 0.0, 1.0);
    if (disc <= 0.0) {
        discard;
    }
    return vec4<f32>(i.color.rgb * inner, disc);
}

@vertex
fn vs_fill(
    @location(0) p: vec2<f32>,
    @location(1) color: u32,
    @location(2) index: u32,
) -> Out {
    if (index == u.skip) {
        return skipped();
    }
    var o: Out;
    o.pos = clip(framebuffer(p));
    o.color = unpack(color);
    o.offset = vec2<f32>(0.0);
    o.len = 0.0;
    return o;
}

@fragment
fn fs_fill(i: Out) -> @location(0) vec4<f32> {
    return vec4<f32>(i.color.rgb * i.color.a, i.color.a);
}
