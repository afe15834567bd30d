"""sdwiki: markdown concept notes become an RDF knowledge graph, a static site and SPARQL answers.

The pipeline, one module per stage:

``notes`` (files -> Note) -> ``resolve`` (Corpus: links resolved) -> ``extract`` (sections ->
entities, driven by the ontology) -> ``graph`` (RDF dataset, one named graph per note) ->
``analytics`` (networkx) -> ``site`` (pages in memory) -> ``write`` (the output folder).
Beside them: ``query`` (one SPARQL path), ``server``, ``cli``.
"""

__version__ = "0.1.0"
