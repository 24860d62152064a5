# tag.jq: the "unique" variant of the benchmark data.
#
# Reads the corpus as JSON lines and writes it $copies times, appending
# " [bench copy N]" to the first message (or the instruction, or the raw
# text) of every record of copy N.  Records of different copies then never
# match, so the only duplicates left are the ones the corpus really holds:
# two records that were equal get the same suffix and stay equal.
#
#   jq -n -c --argjson copies 80 -f bench/tag.jq corpus.jsonl

# Appends $s to a content value: a string, or the first typed part that
# carries its text under "text" or "value".
def append($s):
	if type == "string" then
		. + $s
	elif type == "array" then
		(map(type == "object" and ((.text // .value) | type) == "string")
		 | index(true)) as $i
		| if $i == null then
			error("no text part to tag")
		  else
			.[$i] |= (if (.text | type) == "string" then .text += $s
					  else .value += $s end)
		  end
	else
		error("cannot tag a content of type \(type)")
	end;

def tag($s):
	if has("messages") then .messages[0].content |= append($s)
	elif has("conversations") then .conversations[0].value |= append($s)
	elif has("instruction") then .instruction |= append($s)
	elif has("text") then .text |= append($s)
	else error("no field to tag in record with keys \(keys)")
	end;

[inputs] as $records
| range(0; $copies) as $n
| $records[]
| tag(" [bench copy \($n)]")
