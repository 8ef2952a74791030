//! Rule references are public: no internal notes, and every advisory or CVE
//! id comes with its public page.

use s7sentry_engine::rules::catalog::RULES;

#[test]
fn references_are_public_with_urls() {
    for r in RULES {
        for rf in r.references {
            let low = rf.to_lowercase();
            assert!(!low.contains("research") && !low.contains("issue "), "{}: internal reference {rf:?}", r.id);
            let id = rf.split_whitespace().next().unwrap_or("");
            let want = if let Some(n) = id.strip_prefix("SSA-") {
                Some(format!("https://cert-portal.siemens.com/productcert/html/ssa-{n}.html"))
            } else if id.starts_with("ICSA-") {
                Some(format!("https://www.cisa.gov/news-events/ics-advisories/{}", id.to_lowercase()))
            } else if id.starts_with("CVE-") {
                Some(format!("https://nvd.nist.gov/vuln/detail/{id}"))
            } else {
                None
            };
            if let Some(url) = want {
                assert!(rf.contains(&url), "{}: {rf:?} lacks {url}", r.id);
            }
        }
        for cve in r.cve {
            let url = format!("https://nvd.nist.gov/vuln/detail/{cve}");
            assert!(r.references.iter().any(|x| x.contains(&url)), "{}: {cve} has no NVD reference", r.id);
        }
    }
}
