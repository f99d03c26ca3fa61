"""GraphiQL served offline: the page, its pinned npm assets, and the manifest that pins them."""
