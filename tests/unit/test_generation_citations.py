from google.protobuf.timestamp_pb2 import Timestamp

from ragline.v1 import common_pb2, retrieval_pb2
from services.generation.citations import build_citations, cited_numbers


def test_markers_in_model_text_become_passage_numbers():
    text = "Passwords expire after 90 days [2]. Use 14 characters [1][3], or a passphrase [1, 3]."

    assert cited_numbers(text, passage_count=3) == (1, 2, 3)


def test_markers_pointing_to_no_passage_are_dropped():
    assert cited_numbers("As shown [0], [4] and [2].", passage_count=3) == (2,)
    assert cited_numbers("No citation here, only [brackets] and a year 2024.", passage_count=3) == ()


def test_citation_names_the_retrieved_chunk_with_its_provenance():
    updated = Timestamp(seconds=1_700_000_000)
    passages = [
        retrieval_pb2.SearchHit(chunk_id="c1", document_id="d1", text="first"),
        retrieval_pb2.SearchHit(
            chunk_id="c2",
            document_id="d2",
            text="Passwords expire after 90 days.",
            provenance=common_pb2.Provenance(
                title="Password policy", source_uri="https://wiki/pw", document_version=7, updated_at=updated
            ),
        ),
    ]

    [citation] = build_citations((2,), passages)

    assert (citation.index, citation.chunk_id, citation.document_id) == (2, "c2", "d2")
    assert (citation.title, citation.source_uri, citation.document_version) == ("Password policy", "https://wiki/pw", 7)
    assert citation.updated_at == updated
    assert citation.snippet == "Passwords expire after 90 days."
