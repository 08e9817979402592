//! Labels drawn over a frame, for the propagation video and the report: each
//! object's mask tinted in its track's colour, its box outlined and a tag
//! `"<label> #<track id>"` above the box.
//!
//! Design:
//! - **Colours** come from the track id alone ([`track_colour`]): hues stepped by
//!   the golden ratio, so consecutive ids land far apart on the colour wheel and a
//!   track keeps its colour in every frame.
//! - **Layers**: [`draw`] tints every mask first, then outlines every box, then
//!   writes every tag, so a later object's tint never covers an earlier tag.
//! - **Clipping**: coordinates are clamped to just beyond the frame before they
//!   become integers, and every rectangle is clipped to the frame, so boxes partly
//!   or wholly outside the frame (or with absurd coordinates) are safe. A box
//!   that misses the frame entirely gets no outline and no tag; a mask whose size
//!   differs from the frame's is not tinted (its box and tag are still drawn).
//! - **Text** uses a built-in 5×7 bitmap font (lowercase letters, digits, space,
//!   `#`, `-`, `.` and `_`; capitals are drawn as lowercase, anything else as a
//!   hollow box), scaled by 1 below 720 rows, 2 from 720 and 3 from 1440, so tags
//!   stay readable on HD frames. Pure pixel arithmetic: no file or font access,
//!   so it builds for wasm32 too.

use image::RgbImage;

use crate::labels::{Box2, Mask};

/// Opacity of a mask's tint, out of 256 (about 0.45).
const TINT_ALPHA: u16 = 115;
/// Thickness of a box outline in pixels.
const OUTLINE_PX: i64 = 2;
/// Glyph size in font pixels.
const GLYPH_WIDTH: i64 = 5;
const GLYPH_HEIGHT: i64 = 7;
/// Horizontal distance between glyph origins, in font pixels.
const GLYPH_ADVANCE: i64 = GLYPH_WIDTH + 1;
/// Space between a tag's edge and its text, in font pixels.
const TAG_PADDING: i64 = 2;
/// Frame height from which the text scale steps up by one.
const ROWS_PER_TEXT_SCALE: u32 = 720;
/// Golden ratio conjugate: the hue step between consecutive track ids.
const HUE_STEP: f64 = 0.618_033_988_749_895;

/// One labelled object to draw over a frame.
#[derive(Debug, Clone, Copy)]
pub struct OverlayObject<'a> {
    /// Box `[x0, y0, x1, y1]` in frame pixels.
    pub bbox: Box2,
    /// Binary mask at frame resolution; ignored when its size differs from the frame's.
    pub mask: Option<&'a Mask>,
    /// Track the object belongs to: picks its colour and appears in its tag.
    pub track_id: u64,
    /// Class name written in the tag, e.g. `"car"`.
    pub label: &'a str,
}

/// The colour of track `track_id`: a bright, saturated hue that differs from the
/// hues of nearby ids and is the same on every call.
pub fn track_colour(track_id: u64) -> [u8; 3] {
    // The id is reduced modulo 2^32 first so the product stays exact in f64.
    let hue = ((track_id & u64::from(u32::MAX)) as f64 * HUE_STEP).fract();
    hsv_to_rgb(hue, 0.8, 0.95)
}

/// Draws `objects` over `frame`: mask tints, then box outlines, then tags.
pub fn draw(frame: &mut RgbImage, objects: &[OverlayObject<'_>]) {
    for object in objects {
        if let Some(mask) = object.mask {
            tint(frame, mask, track_colour(object.track_id));
        }
    }
    let visible: Vec<(&OverlayObject<'_>, Rect)> = objects
        .iter()
        .filter_map(|object| {
            let rect = Rect::of_box(object.bbox, frame);
            rect.clip(frame).is_some().then_some((object, rect))
        })
        .collect();
    for (object, rect) in &visible {
        outline(frame, *rect, track_colour(object.track_id));
    }
    for (object, rect) in &visible {
        let text = format!("{} #{}", object.label, object.track_id);
        tag(frame, *rect, &text, track_colour(object.track_id));
    }
}

/// Outlines one box in `colour` (as [`draw`] outlines an object's box), e.g.
/// the ground truth and the prediction of a failure case.
pub fn draw_box(frame: &mut RgbImage, bbox: Box2, colour: [u8; 3]) {
    let rect = Rect::of_box(bbox, frame);
    if rect.clip(frame).is_some() {
        outline(frame, rect, colour);
    }
}

/// `hue`, `saturation` and `value` in `[0, 1]` to 8-bit RGB.
fn hsv_to_rgb(hue: f64, saturation: f64, value: f64) -> [u8; 3] {
    let sector = hue * 6.0;
    let offset = sector.fract();
    let low = value * (1.0 - saturation);
    let falling = value * (1.0 - saturation * offset);
    let rising = value * (1.0 - saturation * (1.0 - offset));
    let rgb = match sector as u32 {
        0 => [value, rising, low],
        1 => [falling, value, low],
        2 => [low, value, rising],
        3 => [low, falling, value],
        4 => [rising, low, value],
        _ => [value, low, falling],
    };
    rgb.map(|channel| (channel * 255.0).round().clamp(0.0, 255.0) as u8)
}

/// Blends `colour` into the pixels inside `mask`, if it has the frame's size.
fn tint(frame: &mut RgbImage, mask: &Mask, colour: [u8; 3]) {
    if (mask.width(), mask.height()) != frame.dimensions() {
        return;
    }
    for (pixel, &inside) in frame.pixels_mut().zip(mask.data()) {
        if inside != 0 {
            for (channel, &target) in pixel.0.iter_mut().zip(&colour) {
                *channel = blend(*channel, target);
            }
        }
    }
}

/// `base` with `TINT_ALPHA / 256` of `over` mixed in, rounded.
fn blend(base: u8, over: u8) -> u8 {
    let mixed = u16::from(base) * (256 - TINT_ALPHA) + u16::from(over) * TINT_ALPHA + 128;
    (mixed >> 8) as u8
}

/// Outlines `rect` with a line `OUTLINE_PX` wide drawn inside it.
fn outline(frame: &mut RgbImage, rect: Rect, colour: [u8; 3]) {
    let thickness_x = OUTLINE_PX.min(rect.width());
    let thickness_y = OUTLINE_PX.min(rect.height());
    let edges = [
        Rect {
            bottom: rect.top + thickness_y,
            ..rect
        },
        Rect {
            top: rect.bottom - thickness_y,
            ..rect
        },
        Rect {
            right: rect.left + thickness_x,
            ..rect
        },
        Rect {
            left: rect.right - thickness_x,
            ..rect
        },
    ];
    for edge in edges {
        fill(frame, edge, colour);
    }
}

/// Writes `text` on a filled tag of `colour` just above `rect`, or just inside its
/// top edge when there is no room above; kept inside the frame horizontally.
fn tag(frame: &mut RgbImage, rect: Rect, text: &str, colour: [u8; 3]) {
    let scale = text_scale(frame.height());
    let glyphs = text.chars().count() as i64;
    let width = (glyphs * GLYPH_ADVANCE - 1 + 2 * TAG_PADDING) * scale;
    let height = (GLYPH_HEIGHT + 2 * TAG_PADDING) * scale;
    let left = rect.left.min(i64::from(frame.width()) - width).max(0);
    let above = rect.top - height;
    let top = if above >= 0 { above } else { rect.top.max(0) };
    let area = Rect {
        left,
        top,
        right: left + width,
        bottom: top + height,
    };
    fill(frame, area, colour);
    let ink = text_colour(colour);
    let origin = (left + TAG_PADDING * scale, top + TAG_PADDING * scale);
    for (index, c) in (0_i64..).zip(text.chars()) {
        let x = origin.0 + index * GLYPH_ADVANCE * scale;
        draw_glyph(frame, (x, origin.1), glyph(c), scale, ink);
    }
}

/// How many frame pixels one font pixel covers on a frame `height` rows high.
fn text_scale(height: u32) -> i64 {
    i64::from(height / ROWS_PER_TEXT_SCALE) + 1
}

/// Black on light tags, white on dark ones (BT.601 luma).
fn text_colour(background: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = background.map(u32::from);
    if 299 * r + 587 * g + 114 * b > 140_000 {
        [0, 0, 0]
    } else {
        [255, 255, 255]
    }
}

/// Draws one glyph with its top-left corner at `origin`, each font pixel a
/// `scale × scale` square.
fn draw_glyph(frame: &mut RgbImage, origin: (i64, i64), rows: [u8; 7], scale: i64, ink: [u8; 3]) {
    for (row, bits) in (0_i64..).zip(rows) {
        for column in 0..GLYPH_WIDTH {
            if bits & (1 << (GLYPH_WIDTH - 1 - column)) != 0 {
                let left = origin.0 + column * scale;
                let top = origin.1 + row * scale;
                let square = Rect {
                    left,
                    top,
                    right: left + scale,
                    bottom: top + scale,
                };
                fill(frame, square, ink);
            }
        }
    }
}

/// Fills the part of `rect` inside the frame with `colour`.
fn fill(frame: &mut RgbImage, rect: Rect, colour: [u8; 3]) {
    let Some((x_range, y_range)) = rect.clip(frame) else {
        return;
    };
    for y in y_range {
        for x in x_range.clone() {
            frame.put_pixel(x, y, image::Rgb(colour));
        }
    }
}

/// A pixel rectangle, `left..right` × `top..bottom` (ends exclusive), that may
/// reach outside the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rect {
    left: i64,
    top: i64,
    right: i64,
    bottom: i64,
}

impl Rect {
    /// The pixels a box covers, at least one pixel wide and high. Coordinates are
    /// clamped to a margin around the frame first, so huge values cannot overflow
    /// and an edge beyond the frame stays beyond it.
    fn of_box(bbox: Box2, frame: &RgbImage) -> Self {
        let margin = (OUTLINE_PX + 1) as f64;
        let clamp_x = |v: f64| v.clamp(-margin, f64::from(frame.width()) + margin);
        let clamp_y = |v: f64| v.clamp(-margin, f64::from(frame.height()) + margin);
        let [x0, y0, x1, y1] = bbox;
        let left = clamp_x(x0.min(x1)).floor() as i64;
        let top = clamp_y(y0.min(y1)).floor() as i64;
        let right = clamp_x(x0.max(x1)).ceil() as i64;
        let bottom = clamp_y(y0.max(y1)).ceil() as i64;
        Rect {
            left,
            top,
            right: right.max(left + 1),
            bottom: bottom.max(top + 1),
        }
    }

    fn width(&self) -> i64 {
        self.right - self.left
    }

    fn height(&self) -> i64 {
        self.bottom - self.top
    }

    /// The column and row ranges of the rectangle inside the frame; `None` when
    /// it misses the frame.
    fn clip(&self, frame: &RgbImage) -> Option<(std::ops::Range<u32>, std::ops::Range<u32>)> {
        let columns = clip_span(self.left, self.right, frame.width())?;
        let rows = clip_span(self.top, self.bottom, frame.height())?;
        Some((columns, rows))
    }
}

/// `start..end` cut to `0..limit`; `None` when nothing is left.
fn clip_span(start: i64, end: i64, limit: u32) -> Option<std::ops::Range<u32>> {
    let limit = i64::from(limit);
    let start = start.clamp(0, limit);
    let end = end.clamp(0, limit);
    // Both ends lie in 0..=limit, so they fit in u32.
    (start < end).then_some(start as u32..end as u32)
}

/// The 5×7 bitmap of `c`: seven rows, top first, bit 4 the leftmost pixel.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_lowercase() {
        'a' => [0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f],
        'b' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e],
        'c' => [0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e],
        'd' => [0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f],
        'e' => [0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e],
        'f' => [0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08],
        'g' => [0x00, 0x00, 0x0f, 0x11, 0x0f, 0x01, 0x0e],
        'h' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11],
        'i' => [0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e],
        'j' => [0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0c],
        'k' => [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12],
        'l' => [0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
        'm' => [0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11],
        'n' => [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11],
        'o' => [0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e],
        'p' => [0x00, 0x00, 0x1e, 0x11, 0x1e, 0x10, 0x10],
        'q' => [0x00, 0x00, 0x0f, 0x11, 0x0f, 0x01, 0x01],
        'r' => [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10],
        's' => [0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e],
        't' => [0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06],
        'u' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d],
        'v' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04],
        'w' => [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a],
        'x' => [0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11],
        'y' => [0x00, 0x00, 0x11, 0x11, 0x0f, 0x01, 0x0e],
        'z' => [0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f],
        '0' => [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
        '1' => [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
        '2' => [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
        '3' => [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
        '4' => [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
        '5' => [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
        '6' => [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
        '7' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
        '9' => [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
        ' ' => [0; 7],
        '#' => [0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a],
        '-' => [0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f],
        _ => [0x1f, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1f],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GREY: image::Rgb<u8> = image::Rgb([100, 100, 100]);

    fn grey_frame(width: u32, height: u32) -> RgbImage {
        RgbImage::from_pixel(width, height, GREY)
    }

    fn object<'a>(bbox: Box2, mask: Option<&'a Mask>, track_id: u64) -> OverlayObject<'a> {
        OverlayObject {
            bbox,
            mask,
            track_id,
            label: "car",
        }
    }

    #[test]
    fn colours_of_the_first_twenty_tracks_differ_pairwise() {
        let colours: Vec<[u8; 3]> = (1..=20).map(track_colour).collect();
        for (i, a) in colours.iter().enumerate() {
            for b in &colours[i + 1..] {
                let distance: u32 = a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| u32::from(x.abs_diff(*y)))
                    .sum();
                assert!(distance >= 24, "{a:?} and {b:?} are too alike");
            }
        }
        assert_eq!(track_colour(7), track_colour(7));
    }

    #[test]
    fn mask_pixels_are_tinted_and_others_untouched() {
        let mut frame = grey_frame(40, 30);
        let mask = Mask::from_fn(40, 30, |x, y| (5..10).contains(&x) && (20..25).contains(&y));
        // The box lies elsewhere, so only the tint can change the mask's pixels.
        draw(
            &mut frame,
            &[object([30.0, 2.0, 38.0, 10.0], Some(&mask), 3)],
        );
        let colour = track_colour(3);
        let tinted = frame.get_pixel(7, 22).0;
        for (channel, (&got, &target)) in tinted.iter().zip(&colour).enumerate() {
            let expected = 100.0 * 0.55 + f64::from(target) * 0.45;
            assert!(
                (f64::from(got) - expected).abs() <= 2.0,
                "channel {channel}: {got} vs {expected}"
            );
        }
        assert_eq!(*frame.get_pixel(12, 22), GREY);
        assert_eq!(*frame.get_pixel(7, 27), GREY);
    }

    #[test]
    fn mask_of_another_size_is_not_tinted_but_the_box_is_drawn() {
        let mut frame = grey_frame(40, 30);
        let mask = Mask::from_fn(20, 15, |_, _| true);
        draw(
            &mut frame,
            &[object([20.0, 20.0, 30.0, 28.0], Some(&mask), 1)],
        );
        assert_eq!(*frame.get_pixel(5, 5), GREY);
        assert_eq!(frame.get_pixel(20, 24).0, track_colour(1));
    }

    #[test]
    fn box_outline_is_two_pixels_wide_and_clipped() {
        let mut frame = grey_frame(64, 48);
        // Partly outside on the right and bottom.
        draw(&mut frame, &[object([40.0, 30.0, 90.0, 70.0], None, 2)]);
        let colour = track_colour(2);
        assert_eq!(frame.get_pixel(40, 35).0, colour);
        assert_eq!(frame.get_pixel(41, 35).0, colour);
        assert_eq!(*frame.get_pixel(42, 35), GREY);
        assert_eq!(frame.get_pixel(50, 30).0, colour);
        assert_eq!(frame.get_pixel(50, 31).0, colour);
        assert_eq!(*frame.get_pixel(50, 32), GREY);
        assert_eq!(*frame.get_pixel(63, 47), GREY);
    }

    #[test]
    fn box_outside_the_frame_draws_nothing() {
        let boxes = [
            [100.0, 10.0, 120.0, 20.0],
            [-50.0, -40.0, -10.0, -5.0],
            [10.0, 60.0, 20.0, 90.0],
            [-1e300, -1e300, -1e299, 1e300],
            [1e300, 1e300, f64::INFINITY, f64::INFINITY],
        ];
        for bbox in boxes {
            let mut frame = grey_frame(64, 48);
            draw(&mut frame, &[object(bbox, None, 4)]);
            assert!(frame.pixels().all(|p| *p == GREY), "{bbox:?} drew pixels");
        }
    }

    #[test]
    fn huge_and_inverted_boxes_are_safe() {
        let mut frame = grey_frame(64, 48);
        let objects = [
            object([-1e300, -1e300, 1e300, 1e300], None, 5),
            object([50.0, 40.0, 10.0, 5.0], None, 6),
            object([f64::NEG_INFINITY, 3.0, 8.0, f64::INFINITY], None, 7),
        ];
        draw(&mut frame, &objects);
        assert_eq!(frame.get_pixel(10, 20).0, track_colour(6));
    }

    #[test]
    fn label_tag_sits_above_the_box() {
        let mut frame = grey_frame(80, 60);
        draw(&mut frame, &[object([10.0, 30.0, 50.0, 55.0], None, 9)]);
        let colour = track_colour(9);
        let ink = text_colour(colour);
        // The tag spans rows 30 - 11 .. 30 from column 10; its text starts 2 px in.
        let tag_rows = 19..30;
        let tag_columns = 10..10 + ("car #9".len() as u32 * 6 - 1 + 4);
        let mut fill = 0;
        let mut text = 0;
        for y in tag_rows {
            for x in tag_columns.clone() {
                match frame.get_pixel(x, y).0 {
                    p if p == colour => fill += 1,
                    p if p == ink => text += 1,
                    p => panic!("pixel ({x}, {y}) is {p:?}"),
                }
            }
        }
        assert!(
            text > 20 && fill > text,
            "{text} text and {fill} tag pixels"
        );
        // The 'c' of "car" has ink at font row 2, columns 1..4.
        assert_eq!(frame.get_pixel(13, 23).0, ink);
        assert_eq!(*frame.get_pixel(9, 25), GREY);
    }

    #[test]
    fn tag_moves_inside_the_box_at_the_top_and_inside_the_frame_at_the_right() {
        let mut frame = grey_frame(80, 60);
        draw(&mut frame, &[object([70.0, 0.0, 80.0, 20.0], None, 11)]);
        let colour = track_colour(11);
        // "car #11" is 7 glyphs: 7 × 6 - 1 + 4 = 45 px wide, ending at the right
        // edge, and 11 rows high from the box's top edge down.
        assert_eq!(frame.get_pixel(35, 0).0, colour);
        assert_eq!(frame.get_pixel(60, 10).0, colour);
        assert_eq!(*frame.get_pixel(34, 5), GREY);
        assert_eq!(*frame.get_pixel(60, 11), GREY);
    }

    #[test]
    fn text_doubles_on_hd_frames() {
        assert_eq!(text_scale(719), 1);
        assert_eq!(text_scale(720), 2);
        assert_eq!(text_scale(1080), 2);
        let mut frame = grey_frame(1280, 720);
        draw(&mut frame, &[object([100.0, 200.0, 300.0, 400.0], None, 1)]);
        let colour = track_colour(1);
        // The tag is (7 + 4) × 2 = 22 rows high.
        assert_eq!(frame.get_pixel(101, 178).0, colour);
        assert_eq!(*frame.get_pixel(101, 177), GREY);
    }

    #[test]
    fn unknown_characters_are_boxes() {
        assert_eq!(glyph('?'), glyph('€'));
        assert_eq!(glyph('C'), glyph('c'));
        assert_ne!(glyph('?'), glyph(' '));
    }
}
