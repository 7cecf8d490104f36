DROP TABLE IF EXISTS chat_message_reactions, chat_message_reaction_counts;
