//! Links: a recommended product's link (the source's own, with the campaign's `utm_*` parameters
//! set, or ours built from `links.product_url`), and the URL helpers behind it.

use super::Renderer;
use crate::config::url_safe;
use crate::recommend::Recommendation;

/// The `utm_*` pairs (any case) of a link template's query string, decoded; values may still hold
/// `{product_id}` and `{campaign}`.
pub(super) fn utm_params(template: &str) -> Vec<(String, String)> {
    let query = template
        .split_once('?')
        .map_or("", |(_, q)| q.split('#').next().unwrap_or(""));
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k.to_ascii_lowercase().starts_with("utm_"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `url` with each of `params` set once: a parameter already there (compared without regard to
/// case) takes the new value in its place (later copies of it are dropped), a missing one is
/// appended; every other part of the URL stays as written. Values are form-encoded.
pub fn with_params(url: &str, params: &[(&str, String)]) -> String {
    if params.is_empty() {
        return url.to_string();
    }
    let (rest, fragment) = match url.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (url, None),
    };
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let key_of = |segment: &str| {
        let raw = segment.split('=').next().unwrap_or("");
        url::form_urlencoded::parse(raw.as_bytes())
            .next()
            .map(|(k, _)| k.into_owned())
            .unwrap_or_default()
    };
    let mut done = vec![false; params.len()];
    let mut segments: Vec<String> = Vec::new();
    for segment in query.split('&').filter(|s| !s.is_empty()) {
        let key = key_of(segment);
        match params
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(&key))
        {
            Some(i) if done[i] => {}
            Some(i) => {
                done[i] = true;
                segments.push(format!("{}={}", params[i].0, encode(&params[i].1)));
            }
            None => segments.push(segment.to_string()),
        }
    }
    for (i, (k, v)) in params.iter().enumerate() {
        if !done[i] {
            segments.push(format!("{k}={}", encode(v)));
        }
    }
    let mut out = format!("{base}?{}", segments.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

impl Renderer {
    /// The link to a recommended product.
    pub fn product_link(&self, campaign: &str, item: &Recommendation) -> String {
        match &item.url {
            Some(url) => {
                let utm: Vec<(&str, String)> = self
                    .utm
                    .iter()
                    .map(|(k, v)| {
                        let v = v
                            .replace("{product_id}", &item.product_id.to_string())
                            .replace("{campaign}", campaign);
                        (k.as_str(), v)
                    })
                    .collect();
                with_params(url, &utm)
            }
            // A feed's own id (any text) goes into our link percent-encoded: it cannot add a path,
            // a query or a fragment of its own.
            None => self
                .product_url
                .replace("{product_id}", &url_safe(&item.product_id.to_string()))
                .replace("{campaign}", campaign),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utm(campaign: &str) -> Vec<(&'static str, String)> {
        vec![
            ("utm_source", "crm".into()),
            ("utm_medium", "email".into()),
            ("utm_campaign", campaign.into()),
        ]
    }

    #[test]
    fn a_text_id_goes_into_a_link_as_one_encoded_value() {
        assert_eq!(url_safe("1111476"), "1111476");
        assert_eq!(url_safe("SKU-9_a.b~c"), "SKU-9_a.b~c");
        assert_eq!(
            url_safe("../x?next=//evil.example/0#f"),
            "..%2Fx%3Fnext%3D%2F%2Fevil.example%2F0%23f"
        );
    }

    #[test]
    fn the_utm_parameters_of_the_link_template_are_found() {
        let t = "https://w.example/p/{product_id}?ref=x&utm_source=crm&utm_medium=email&utm_campaign={campaign}#top";
        assert_eq!(
            utm_params(t),
            vec![
                ("utm_source".to_string(), "crm".to_string()),
                ("utm_medium".to_string(), "email".to_string()),
                ("utm_campaign".to_string(), "{campaign}".to_string()),
            ]
        );
        assert!(utm_params("https://w.example/p/{product_id}").is_empty());
    }

    #[test]
    fn utm_parameters_are_appended_keeping_the_rest_as_written() {
        assert_eq!(
            with_params("https://s.example/p/1?ref=a%20b&x=1#photos", &utm("reminder")),
            "https://s.example/p/1?ref=a%20b&x=1&utm_source=crm&utm_medium=email&utm_campaign=reminder#photos"
        );
        assert_eq!(
            with_params("https://s.example/p/1", &utm("c")),
            "https://s.example/p/1?utm_source=crm&utm_medium=email&utm_campaign=c"
        );
    }

    #[test]
    fn template_values_are_decoded_once_and_encoded_once() {
        let t = "https://w.example/p/{product_id}?utm_source=crm%20mail&utm_content=a+b&UTM_Term=x";
        let params = utm_params(t);
        assert_eq!(
            params,
            vec![
                ("utm_source".to_string(), "crm mail".to_string()),
                ("utm_content".to_string(), "a b".to_string()),
                ("UTM_Term".to_string(), "x".to_string()),
            ]
        );
        let refs: Vec<(&str, String)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        assert_eq!(
            with_params("https://s.example/p/1", &refs),
            "https://s.example/p/1?utm_source=crm+mail&utm_content=a+b&UTM_Term=x"
        );
    }

    #[test]
    fn keys_are_matched_without_regard_to_case() {
        assert_eq!(
            with_params(
                "https://s.example/p/1?UTM_Source=feed&utm_campaign=feed#x",
                &utm("r")
            ),
            "https://s.example/p/1?utm_source=crm&utm_campaign=r&utm_medium=email#x"
        );
    }

    #[test]
    fn a_utm_parameter_already_there_is_set_once_in_its_place() {
        assert_eq!(
            with_params(
                "https://s.example/p/1?utm_campaign=feed&a=1&utm_source=crm&utm_campaign=again",
                &utm("reminder")
            ),
            "https://s.example/p/1?utm_campaign=reminder&a=1&utm_source=crm&utm_medium=email"
        );
    }
}
