CALL rebuild_search_vectors('chat_messages');
