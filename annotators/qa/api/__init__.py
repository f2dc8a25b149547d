"""QA REST API: request serializers (:mod:`.serializers`) and thin views (:mod:`.views`)."""
