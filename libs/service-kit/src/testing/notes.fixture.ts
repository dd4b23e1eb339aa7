import { Body, Controller, Get, Module, Post, Res } from '@nestjs/common';
import { IsString } from 'class-validator';
import type { Response } from 'express';

class NoteDto {
  @IsString()
  text!: string;
}

@Controller('notes')
class NotesController {
  @Post()
  create(@Body() note: NoteDto): NoteDto {
    return note;
  }

  @Get('broken')
  broken(): never {
    throw new Error('boom');
  }

  /** What a route whose body is never read sees of it. */
  @Post('clear')
  clear(@Body() body: unknown): { body: unknown } {
    return { body: body ?? null };
  }

  /** An answer that takes longer than a request may take to arrive. */
  @Get('slow')
  async slow(): Promise<{ ok: true }> {
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    return { ok: true };
  }

  /** An answer whose head goes out at once and whose end comes a moment later. */
  @Get('streamed')
  streamed(@Res() response: Response): void {
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.write('first part\n');
    setTimeout(() => response.end('last part\n'), 300);
  }
}

/** A small app for the HTTP stack's tests: a validated body, errors, slow and streamed answers. */
@Module({ controllers: [NotesController] })
export class NotesModule {}
