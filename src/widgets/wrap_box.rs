//! `QcsWrapBox`: a row of controls that wraps onto more lines when the window is too
//! narrow for it (libadwaita 1.2 has no breakpoints and no wrap box). Children are
//! laid out left to right at their natural widths while they fit; a child that does not
//! fit starts the next line, and a child alone on its line gets the whole width (its
//! `halign` places it). Extra width on a line goes to its horizontally expanding
//! children. The box is never wider than its widest child needs, so no control is ever
//! pushed out of the window. It lays out; it draws nothing and decides nothing.

use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

mod imp {
    use std::cell::Cell;

    use super::*;

    #[derive(Debug, glib::Properties)]
    #[properties(wrapper_type = super::QcsWrapBox)]
    pub struct QcsWrapBox {
        /// Space between two children on a line.
        #[property(get, set = Self::set_spacing, minimum = 0)]
        pub spacing: Cell<i32>,
        /// Space between two lines.
        #[property(get, set = Self::set_row_spacing, minimum = 0)]
        pub row_spacing: Cell<i32>,
    }

    impl Default for QcsWrapBox {
        fn default() -> Self {
            Self {
                spacing: Cell::new(6),
                row_spacing: Cell::new(6),
            }
        }
    }

    impl QcsWrapBox {
        fn set_spacing(&self, spacing: i32) {
            self.spacing.set(spacing.max(0));
            self.obj().queue_resize();
        }

        fn set_row_spacing(&self, spacing: i32) {
            self.row_spacing.set(spacing.max(0));
            self.obj().queue_resize();
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for QcsWrapBox {
        const NAME: &'static str = "QcsWrapBox";
        type Type = super::QcsWrapBox;
        type ParentType = gtk::Widget;

        fn class_init(klass: &mut Self::Class) {
            klass.set_css_name("wrapbox");
            klass.set_accessible_role(gtk::AccessibleRole::Group);
        }
    }

    #[glib::derived_properties]
    impl ObjectImpl for QcsWrapBox {
        fn dispose(&self) {
            while let Some(child) = self.obj().first_child() {
                child.unparent();
            }
        }
    }

    impl WidgetImpl for QcsWrapBox {
        fn request_mode(&self) -> gtk::SizeRequestMode {
            gtk::SizeRequestMode::HeightForWidth
        }

        fn measure(&self, orientation: gtk::Orientation, for_size: i32) -> (i32, i32, i32, i32) {
            let children = self.obj().laid_out_children();
            let spacing = self.spacing.get();
            if orientation == gtk::Orientation::Horizontal {
                // As narrow as the widest child allows; as wide as all on one line.
                let mut minimum = 0;
                let mut natural = 0;
                for (i, child) in children.iter().enumerate() {
                    let (min, nat, _, _) = child.measure(orientation, -1);
                    minimum = minimum.max(min);
                    natural += nat + if i > 0 { spacing } else { 0 };
                }
                return (minimum, natural.max(minimum), -1, -1);
            }
            let width = if for_size < 0 { i32::MAX } else { for_size };
            let mut minimum = 0;
            let mut natural = 0;
            for (i, line) in lines(&children, width, spacing).iter().enumerate() {
                let gap = if i > 0 { self.row_spacing.get() } else { 0 };
                let (min, nat) = line_height(line);
                minimum += min + gap;
                natural += nat + gap;
            }
            (minimum, natural.max(minimum), -1, -1)
        }

        fn size_allocate(&self, width: i32, height: i32, _baseline: i32) {
            let children = self.obj().laid_out_children();
            let row_spacing = self.row_spacing.get();
            let spacing = self.spacing.get();
            let lines = lines(&children, width, spacing);
            let heights: Vec<(i32, i32)> = lines.iter().map(|line| line_height(line)).collect();
            let gaps = row_spacing * (lines.len().saturating_sub(1) as i32);
            let natural: i32 = heights.iter().map(|h| h.1).sum::<i32>() + gaps;
            // Natural heights when there is room, else the minimum ones.
            let use_natural = natural <= height;
            let mut y = 0;
            for (line, (min, nat)) in lines.iter().zip(heights) {
                let line_height = if use_natural { nat } else { min };
                let mut x = 0;
                for (child, child_width) in line {
                    let at = gtk::graphene::Point::new(x as f32, y as f32);
                    child.allocate(
                        *child_width,
                        line_height,
                        -1,
                        Some(gtk::gsk::Transform::new().translate(&at)),
                    );
                    x += child_width + spacing;
                }
                y += line_height + row_spacing;
            }
        }
    }
}

glib::wrapper! {
    pub struct QcsWrapBox(ObjectSubclass<imp::QcsWrapBox>)
        @extends gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl Default for QcsWrapBox {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl QcsWrapBox {
    /// The children that take part in the layout (the visible ones).
    fn laid_out_children(&self) -> Vec<gtk::Widget> {
        let mut children = Vec::new();
        let mut child = self.first_child();
        while let Some(widget) = child {
            if widget.should_layout() {
                children.push(widget.clone());
            }
            child = widget.next_sibling();
        }
        children
    }

    /// How many lines the children take at the current width.
    pub fn line_count(&self) -> usize {
        lines(
            &self.laid_out_children(),
            self.width(),
            self.imp().spacing.get(),
        )
        .len()
    }
}

/// The children in lines for `width`, each with the width it gets.
fn lines(children: &[gtk::Widget], width: i32, spacing: i32) -> Vec<Vec<(gtk::Widget, i32)>> {
    let mut lines: Vec<Vec<(gtk::Widget, i32)>> = Vec::new();
    let mut line: Vec<(gtk::Widget, i32)> = Vec::new();
    let mut used = 0i32;
    for child in children {
        let (_, natural, _, _) = child.measure(gtk::Orientation::Horizontal, -1);
        let needed = if line.is_empty() {
            natural
        } else {
            used.saturating_add(spacing).saturating_add(natural)
        };
        if !line.is_empty() && needed > width {
            lines.push(std::mem::take(&mut line));
            used = natural;
        } else {
            used = needed;
        }
        line.push((child.clone(), natural));
    }
    if !line.is_empty() {
        lines.push(line);
    }
    if width == i32::MAX {
        return lines;
    }
    for line in &mut lines {
        if let [(child, child_width)] = line.as_mut_slice() {
            // Alone on its line: the whole width (never less than it needs).
            let (minimum, _, _, _) = child.measure(gtk::Orientation::Horizontal, -1);
            *child_width = width.max(minimum);
            continue;
        }
        let taken: i32 = line.iter().map(|(_, w)| *w).sum::<i32>()
            + spacing * (line.len().saturating_sub(1) as i32);
        let extra = (width - taken).max(0);
        let expanding = line
            .iter()
            .filter(|(c, _)| c.compute_expand(gtk::Orientation::Horizontal))
            .count() as i32;
        if extra > 0 && expanding > 0 {
            let mut left = extra;
            let mut share_index = 0;
            for (child, child_width) in line.iter_mut() {
                if child.compute_expand(gtk::Orientation::Horizontal) {
                    share_index += 1;
                    let share = if share_index == expanding {
                        left
                    } else {
                        extra / expanding
                    };
                    *child_width += share;
                    left -= share;
                }
            }
        }
    }
    lines
}

/// The (minimum, natural) height of a line: its tallest child at the width it gets.
fn line_height(line: &[(gtk::Widget, i32)]) -> (i32, i32) {
    line.iter().fold((0, 0), |(min, nat), (child, width)| {
        let (m, n, _, _) = child.measure(gtk::Orientation::Vertical, *width);
        (min.max(m), nat.max(n))
    })
}
