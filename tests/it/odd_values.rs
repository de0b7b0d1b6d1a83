//! The fast path against the straightforward one on odd values (control characters, blank values,
//! Unicode that Rust's string escapes touch, things that look like placeholders or markup), and on
//! a template that filters a value: every email must come out as the straightforward render makes
//! it, whatever emails of the same shape came before.

use tripmail::bookings::{Booking, Locale};
use tripmail::catalog::Money;
use tripmail::config::{Overrides, Settings};
use tripmail::recommend::Recommendation;
use tripmail::render::{EmailInput, Renderer};

use crate::util::root;

fn settings() -> Settings {
    let config = root().join("fixtures/campaign.toml");
    let mut s = Settings::load_with_env(&config, &Overrides::default(), Vec::new()).unwrap();
    s.templates.dir = root().join("templates");
    s
}

fn booking(first: &str, product: &str) -> Booking {
    Booking {
        booking_id: "B-1".into(),
        customer_email: lettre::Address::new("a", "example.com").unwrap(),
        customer_first_name: first.into(),
        product_title: product.into(),
        children: 0,
        ..Booking::sample(Locale::En)
    }
}

fn item(i: u64, title: &str, image: &str, url: Option<&str>, currency: &str) -> Recommendation {
    Recommendation {
        product_id: (100 + i).into(),
        title: title.into(),
        image_url: image.into(),
        from_price: Money {
            amount: 12.5,
            currency: currency.into(),
        },
        url: url.map(String::from),
        in_stock: true,
        traits: Default::default(),
        city: None,
    }
}

struct Case {
    first: String,
    product: String,
    city: String,
    title: String,
    image: String,
    url: Option<String>,
    unsub: String,
}

impl Case {
    fn plain() -> Case {
        Case {
            first: "Alex".into(),
            product: "Colosseum".into(),
            city: "Rome".into(),
            title: "Vatican".into(),
            image: "https://img.example/1.jpg".into(),
            url: None,
            unsub: "https://u.example/x?a=1&b=2".into(),
        }
    }
}

fn render_both(
    r: &Renderer,
    s: &Settings,
    campaign: &str,
    c: &Case,
) -> (String, String, String, String) {
    let camp = s.campaign(campaign).unwrap();
    let b = booking(&c.first, &c.product);
    let items = vec![
        item(1, &c.title, &c.image, c.url.as_deref(), "EUR"),
        item(2, "Second", "https://img.example/2.jpg", None, "EUR"),
    ];
    let input = EmailInput {
        campaign: camp,
        booking: &b,
        items: &items,
        days_to_travel: 3,
        city: &c.city,
        block_names_city: true,
        unsubscribe_url: camp.wants_unsubscribe().then_some(c.unsub.as_str()),
        manage_url: None,
    };
    let fast = r.render_with(input, false).map_err(|e| e.to_string());
    let straight = r.render_straight(input).map_err(|e| e.to_string());
    match (fast, straight) {
        (Ok(f), Ok(s)) => (f.html, s.html, f.text, s.text),
        (f, s) => (
            format!("{:?}", f.map(|c| c.html.len())),
            format!("{:?}", s.map(|c| c.html.len())),
            String::new(),
            String::new(),
        ),
    }
}

#[test]
fn odd_values_give_the_straightforward_bytes_in_every_field() {
    let s = settings();
    let values: Vec<&str> = vec![
        "A\nB",
        "A\r\nB",
        "\tX",
        "a\\b",
        "\u{301}e",
        "e\u{301}",
        "a\0b",
        "a\u{7f}",
        "\u{85}x",
        "x\u{200b}y",
        "x\u{2028}y",
        "\u{feff}x",
        "😀",
        "\u{e000}0\u{e001}",
        "\\u{e000}0\\u{e001}",
        "&amp;",
        "<b>",
        "'\"",
        "{{ x }}",
        "x\u{AD}y",
        "\u{1b}[31m",
        "a  b",
        "a\n\n\nb",
        " x ",
        "x\u{E0001}",
        "\u{fe0f}",
        "{% raw %}",
        "]]>",
        "<!-- c -->",
        "a\u{0301}\u{0301}",
        "\u{200d}",
        "x\u{d}",
        "\n",
        "\n  ",
        "  ",
    ];
    let mut bad = Vec::new();
    for campaign in ["confirmation", "reminder"] {
        for field in ["first", "product", "city", "title", "image", "url", "unsub"] {
            for v in &values {
                let r = Renderer::new(&s).unwrap();
                for _ in 0..2 {
                    render_both(&r, &s, campaign, &Case::plain());
                }
                let mut c = Case::plain();
                match field {
                    "first" => c.first = v.to_string(),
                    "product" => c.product = v.to_string(),
                    "city" => c.city = v.to_string(),
                    "title" => c.title = v.to_string(),
                    "image" => c.image = format!("https://img.example/{v}.jpg"),
                    "url" => c.url = Some(format!("https://p.example/{v}")),
                    "unsub" => c.unsub = format!("https://u.example/{v}"),
                    _ => unreachable!(),
                }
                let (fh, sh, ft, st) = render_both(&r, &s, campaign, &c);
                if fh != sh || ft != st {
                    let at = fh
                        .bytes()
                        .zip(sh.bytes())
                        .position(|(a, b)| a != b)
                        .unwrap_or(0);
                    let lo = at.saturating_sub(60);
                    bad.push(format!(
                        "{campaign} {field}={v:?}: html {} text {}\n  fast:     {:?}\n  straight: {:?}",
                        fh == sh,
                        ft == st,
                        fh.get(lo..(at + 60).min(fh.len())).unwrap_or(""),
                        sh.get(lo..(at + 60).min(sh.len())).unwrap_or(""),
                    ));
                }
            }
        }
    }
    for b in &bad {
        eprintln!("{b}");
    }
    assert!(bad.is_empty(), "{} differences", bad.len());
}

#[test]
fn a_template_that_filters_a_value_is_not_compiled() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("templates");
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.path().is_file() {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    };
    copy(&root().join("templates"), &dir);
    copy(&root().join("templates/i18n"), &dir.join("i18n"));
    let block = std::fs::read_to_string(dir.join("_block.mjml.tera")).unwrap();
    let block = block.replace("{{ item.title }}", "{{ item.title | truncate(length=20) }}");
    std::fs::write(dir.join("_block.mjml.tera"), block).unwrap();
    let mut s = settings();
    s.templates.dir = dir;
    let r = Renderer::new(&s).unwrap();
    for _ in 0..2 {
        let (fh, sh, ..) = render_both(&r, &s, "confirmation", &Case::plain());
        assert_eq!(fh, sh);
    }
    let mut c = Case::plain();
    c.title = "Skip-the-line Vatican Museums and Sistine Chapel".into();
    let (fh, sh, ..) = render_both(&r, &s, "confirmation", &c);
    assert!(sh.contains("Skip-the-line Vatica…"), "the filter truncates");
    assert_eq!(
        fh, sh,
        "the fast path differs after ordinary emails of the shape"
    );
}
